"""`make mutate`: mutation testing of the modules that must be right, one group at a time.

Each group is a set of modules and the tests that speak for them. mutmut reads its settings
from the pyproject.toml of the folder it runs in, and its first run (the "stats") runs every
test of the selection once to learn which tests reach which function; so each group runs in
a folder of its own under .mutation/ (links to the project, the project's pyproject.toml
with the group's [tool.mutmut]): the api group never waits for the fan-out's state machines.
Results stay there between runs (mutmut redoes only what changed). Each mutant then runs
the tests that reached its function, on the fixed Hypothesis examples of `make test`.

    python scripts/mutate.py [GROUP ...] [--only 'murmur.fanout.planner.*']

prints the scores per module (scripts/mutation_scores.py), the table docs/mutation.md keeps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_scores import render, scores  # a sibling script, not a package

ROOT = Path(__file__).resolve().parents[1]
WORKSPACES = ROOT / ".mutation"
LINKED = [
    "murmur",
    "api",
    "workers",
    "loadtest",
    "devstack",
    "bench",
    "proto",
    "helm",
    "k8s",
    "docker",
    "Makefile",
]


@dataclass(frozen=True)
class Group:
    mutate: list[str]
    tests: list[str]
    # packages mutated beside murmur/ and api/: the name they are imported by -> their folder
    extra_sources: dict[str, str] = field(default_factory=dict)


GROUPS = {
    "api": Group(
        mutate=[
            "murmur/auth.py",
            "murmur/accounts.py",
            "api/context.py",
            "api/rate_limit.py",
            "api/validation.py",
            "api/document_limits.py",
        ],
        tests=["tests/api", "tests/core"],
    ),
    "fanout": Group(mutate=["murmur/fanout/*"], tests=["tests/fanout"]),
    "stores": Group(
        mutate=[
            "murmur/storage/sqlite/timelines.py",
            "murmur/storage/sqlite/ledger.py",
            "murmur/storage/redis/timelines.py",
            "murmur/storage/dynamodb.py",
            "murmur/storage/mongo.py",
        ],
        tests=[
            "tests/contract/test_timelines.py",
            "tests/contract/test_ledger.py",
            "tests/contract/test_cached_stores.py",
            "tests/storage",
        ],
    ),
    "operator": Group(
        mutate=["murmur_operator/decision.py"],
        tests=["tests/operator/test_scaling_decision.py"],
        extra_sources={"murmur_operator": "operator/murmur_operator"},
    ),
}


def workspace(name: str, group: Group) -> Path:
    """The group's folder: links to the project and a pyproject.toml with its [tool.mutmut]."""
    folder = WORKSPACES / name
    folder.mkdir(parents=True, exist_ok=True)
    # the operator's package is mutated from its own copy: linking operator/ as well would
    # copy the original over the mutants (mutmut copies its extra files after the sources)
    linked = [*LINKED, "tests", "uv.lock"] + ([] if group.extra_sources else ["operator"])
    for entry in linked:
        link = folder / entry
        if not link.is_symlink():
            link.symlink_to(ROOT / entry)
    # mutmut names a mutant by its file's path: linked at the top, the package's mutants are
    # named and imported as the tests import it (the mutants folder comes first on sys.path)
    for package, source in group.extra_sources.items():
        link = folder / package
        if not link.is_symlink():
            link.symlink_to(ROOT / source)
    settings = {
        "source_paths": ["murmur", "api", *group.extra_sources],
        "only_mutate": group.mutate,
        "pytest_add_cli_args_test_selection": group.tests,
        "also_copy": [entry for entry in linked if entry not in ("tests", "uv.lock")],
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
    }
    # TOML's arrays of strings are JSON's
    section = "\n[tool.mutmut]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
    )
    (folder / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + section)
    return folder


def run(name: str, group: Group, only: list[str]) -> str:
    folder = workspace(name, group)
    mutmut = Path(sys.executable).with_name("mutmut")
    subprocess.run([mutmut, "run", "--max-children", "2", *only], cwd=folder, check=False)
    results = subprocess.run(
        [mutmut, "results", "--all", "true"], cwd=folder, capture_output=True, text=True, check=True
    )
    return results.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("groups", nargs="*", help=f"of {', '.join(GROUPS)} (default: every group)")
    parser.add_argument("--only", action="append", default=[], help="mutant names (globs) to run")
    args = parser.parse_args()
    unknown = set(args.groups) - set(GROUPS)
    if unknown:
        parser.error(f"no such group: {', '.join(sorted(unknown))}")
    lines: list[str] = []
    for name in args.groups or list(GROUPS):
        lines += run(name, GROUPS[name], args.only).splitlines()
    print(render(scores(lines)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
