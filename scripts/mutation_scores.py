"""Mutation scores per module from `mutmut results --all true`: killed
share of the mutants checked, as the table docs/mutation.md keeps.

A timeout counts as killed (the mutant made a test hang, and the hang fails it); "no
tests" counts as survived (nothing would notice the change). For the files that hold more
than the stores the scores are about (dynamodb.py, mongo.py), their classes get rows too.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
UNCHECKED = {"not checked", "skipped"}
SPLIT_BY_CLASS = {"murmur.storage.dynamodb", "murmur.storage.mongo"}
_NAME = re.compile(r"^\s*(?P<module>[\w.]+?)\.x(?:ǁ(?P<cls>\w+)ǁ|_)\w+__mutmut_\d+: (?P<status>.+?)\s*$")


def scores(lines: list[str]) -> dict[str, Counter[str]]:
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        match = _NAME.match(line)
        if match is None:
            continue
        module, cls, status = match["module"], match["cls"], match["status"]
        names = [module] + ([f"{module}.{cls}"] if module in SPLIT_BY_CLASS and cls else [])
        for name in names:
            rows[name][status] += 1
    return rows


def render(rows: dict[str, Counter[str]]) -> str:
    lines = [
        "| module | mutants | killed | survived | not checked | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, counts in sorted(rows.items()):
        total = sum(counts.values())
        unchecked = sum(counts[s] for s in UNCHECKED)
        killed = sum(counts[s] for s in KILLED)
        checked = total - unchecked
        score = f"{100 * killed / checked:.1f}%" if checked else "-"
        lines.append(f"| {name} | {total} | {killed} | {checked - killed} | {unchecked} | {score} |")
    return "\n".join(lines)


def main() -> int:
    print(render(scores(sys.stdin.read().splitlines())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
