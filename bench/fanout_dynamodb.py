"""Push fan-out into DynamoDB timelines: one post to 100,000 followers, in the worker's pages of 5,000.

Times `DynamoTimelineStore.add_to_timelines` the way a push fan-out calls it (one call per page
of followers) against a moto server this script starts and stops itself, and, in the same
run, `SqliteTimelineStore` on a temporary file, for a figure side by side.

moto is an in-process Python emulator: every request costs milliseconds of Python in one
process, so its deliveries per second say how many calls the store makes, not how fast
DynamoDB would take them (DynamoDB spreads them over partitions, at single-digit ms each).

    python -m bench.fanout_dynamodb [--followers 100000] [--page 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench._servers import local_server
from murmur.domain import IdGenerator, PostId, TimelineEntry, UserId
from murmur.settings import AwsSettings
from murmur.storage.base import TimelineStore
from murmur.storage.dynamodb import DynamoTimelineStore
from murmur.storage.sqlite import SqliteDatabase, SqliteTimelineStore

RESULTS = Path("bench-results/fanout_dynamodb.json")
CAP = 800
MOTO_NOTE = "moto is an in-process Python emulator, much slower than DynamoDB: compare calls, not speed"


@dataclass
class Result:
    store: str
    followers: int
    page: int
    seconds: float
    deliveries_per_second: float
    note: str = ""


async def push(store: TimelineStore, name: str, followers: list[UserId], page: int) -> Result:
    """One post to every follower, a page at a time, as the fan-out worker sends it."""
    ids = IdGenerator(node=7)
    entry = TimelineEntry(post_id=PostId(ids.next_id()), author_id=UserId(ids.next_id()))
    started = time.perf_counter()
    for start in range(0, len(followers), page):
        await store.add_to_timelines(owners=followers[start : start + page], entry=entry)
        done = min(start + page, len(followers))
        elapsed = time.perf_counter() - started
        print(f"\r  {name}: {done:,}/{len(followers):,} timelines, {elapsed:.1f} s", end="", flush=True)
    seconds = time.perf_counter() - started
    print()
    sample = random.Random(2).sample(followers, min(1000, len(followers)))
    sizes = await store.timeline_sizes(owners=sample)
    assert set(sizes.values()) == {1}, f"{name}: timelines hold {set(sizes.values())}, not 1"
    return Result(name, len(followers), page, seconds, len(followers) / seconds)


async def dynamodb(endpoint: str, followers: list[UserId], page: int, concurrency: int) -> Result:
    # moto takes any credentials; real ones (or none) from the environment are not used here
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    settings = AwsSettings(endpoint_url=endpoint, timelines_table="bench-fanout")
    store = await DynamoTimelineStore.open(settings, cap=CAP, create_missing=True, concurrency=concurrency)
    try:
        result = await push(store, "DynamoDB (moto)", followers, page)
    finally:
        await store.close()
    result.note = MOTO_NOTE
    return result


async def sqlite(followers: list[UserId], page: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="murmur-fanout-") as tmp:
        db = await SqliteDatabase.open(Path(tmp) / "fanout.db")
        try:
            return await push(SqliteTimelineStore(db=db, cap=CAP), "SQLite", followers, page)
        finally:
            await db.close()


async def main() -> list[Result]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16, help="DynamoDB calls in flight")
    args = parser.parse_args()

    ids = IdGenerator(node=6)
    followers = [UserId(ids.next_id()) for _ in range(args.followers)]
    random.Random(1).shuffle(followers)  # follow order, not id order
    print(
        f"Push fan-out of one post to {args.followers:,} empty timelines (cap {CAP}), pages of {args.page:,}"
    )
    print(f"  note: {MOTO_NOTE}")
    results = [await sqlite(followers, args.page)]
    with local_server("moto_server") as moto:
        results.append(await dynamodb(moto.endpoint_url, followers, args.page, args.concurrency))
    for result in results:
        print(
            f"  {result.store:16} {result.seconds:8.1f} s  {result.deliveries_per_second:10,.0f} deliveries/s"
        )
    return results


if __name__ == "__main__":
    outcome = asyncio.run(main())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(r) for r in outcome], indent=2))
