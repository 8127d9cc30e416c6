"""How long a hostile document can keep the API busy before it runs: parse, the shape
limits, graphql-core's validation and the cost estimate, for the worst documents we know
how to write (bench/hostile_documents.py) grown to the configured limits.

Each document is timed cold (the API's caches cleared, and the garbage collector run
before each run, whose pauses depend on everything else the process holds), best of
several runs, on the event loop's thread as the API does it. Target: under 50 ms for every one at the default
limits. Also times a sample of random documents near the token limit, and reports the
old limits (2,000 tokens, no shape pass) beside it for scale.

    python -m bench.validation [--runs 9] [--random 200]
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from graphql import GraphQLSchema

from api.schema import build_schema
from api.validation import DocumentCache
from bench.hostile_documents import FAMILIES, random_documents, token_count
from murmur.settings import Settings

TARGET_MS = 50.0
RESULTS = Path("bench-results/validation.json")


@dataclass(frozen=True, slots=True)
class Row:
    document: str
    tokens: int
    bytes: int
    ms: float
    verdict: str  # the first error, or "runs" when the document passes every check


def time_document(cache: DocumentCache, schema: GraphQLSchema, text: str, runs: int) -> tuple[float, str]:
    """Best-of-`runs` milliseconds for the whole pre-execution path, and its verdict."""
    best, verdict = float("inf"), ""
    for _ in range(runs):
        cache.clear()
        gc.collect()  # a collection of everything else alive is not this document's cost
        started = time.perf_counter()
        try:
            errors = cache.validate(schema, text)
            cost = None if errors else cache.price(schema, text, None, ()).cost
        except Exception as exc:  # the parser's GraphQLSyntaxError: refused while lexing
            errors, cost = (exc,), None  # type: ignore[assignment]
        best = min(best, time.perf_counter() - started)
        if errors:
            verdict = str(errors[0]).splitlines()[0]
        elif cost is not None and cost > cache.budget.max_cost:
            verdict = f"refused: may cost {cost}, over the budget"
        else:
            verdict = f"runs (cost {cost})"
    return best * 1000, verdict


def measure(settings: Settings, runs: int, random_count: int) -> list[Row]:
    schema = build_schema(settings)._schema
    cache = DocumentCache.for_settings(settings.api, introspection=True)
    rows = []
    for family in FAMILIES:
        text = family.largest(settings.api)
        ms, verdict = time_document(cache, schema, text, runs)
        rows.append(Row(family.name, token_count(text), len(text.encode()), ms, verdict))
    # random documents: each timed best of 3, then the ten slowest again, best of 3 × `runs`
    # (this machine's speed wanders by 2× for a while at a time: only many tries see through it)
    texts = list(random_documents(settings.api, seed=16, count=random_count))
    once = sorted(((time_document(cache, schema, text, 3)[0], text) for text in texts), reverse=True)
    again = [(*time_document(cache, schema, text, 3 * runs), text) for _, text in once[:10]]
    if again:
        ms, verdict, text = max(again)
        rows.append(
            Row(f"random (slowest of {random_count})", token_count(text), len(text.encode()), ms, verdict)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--random", type=int, default=200)
    args = parser.parse_args()
    settings = Settings(data_dir=Path(tempfile.mkdtemp()))
    rows = measure(settings, args.runs, args.random)
    print(f"{'document':26} {'tokens':>6} {'bytes':>6} {'ms':>7}  verdict")
    for row in rows:
        print(f"{row.document:26} {row.tokens:6} {row.bytes:6} {row.ms:7.1f}  {row.verdict[:70]}")
    worst = max(rows, key=lambda r: r.ms)
    status = "ok" if worst.ms < TARGET_MS else "MISSED"
    print(f"\nworst: {worst.document}, {worst.ms:.1f} ms (target < {TARGET_MS:g} ms)  {status}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"limits": settings.api.model_dump(), "target_ms": TARGET_MS, "rows": [asdict(r) for r in rows]},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
