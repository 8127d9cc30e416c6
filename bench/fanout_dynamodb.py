"""Push fan-out into DynamoDB timelines: one post to many followers (100,000 is the target
case), in the worker's pages of 5,000, counting the DynamoDB requests and capacity units it
costs per delivery.

Calls `DynamoTimelineStore.add_to_timelines` the way a push fan-out does (one call per page of
followers) against a moto server this script starts and stops itself, and, in the same run,
`SqliteTimelineStore` on a temporary file, for a figure side by side. The counts come from
the store's own metrics: murmur_aws_requests_total (every request sent, retries included) and
murmur_dynamodb_capacity_units_total (what the service reports with ReturnConsumedCapacity).

Target: at most 0.1 DynamoDB requests per delivery, amortised (a BatchWriteItem carries 25
puts: 0.04). Every request term grows linearly with the followers (a BatchWriteItem per 25,
a trim's GetItem and Query per `trim_every` timelines), so requests per delivery measured on
fewer followers hold for 100,000 too; the default is what moto gets through in a few minutes.

moto is an in-process Python emulator: every Query sorts the whole table (a trim's costs
grow with the table, so a run's time grows with the square of the followers), and its
capacity figures are nominal (a flat 1 unit per BatchWriteItem call, 0.5 per UpdateItem,
none for transactions), not DynamoDB's bill. So the script also prints the units DynamoDB
would bill, derived from what was sent: 1 WCU per put (entries are < 1 KB), 1 RCU per
strongly consistent GetItem or Query page of under 4 KB (these timelines hold one entry).
Its deliveries per second say how many calls the store makes, not how fast DynamoDB would
take them (DynamoDB spreads them over partitions, at single-digit ms each).

    python -m bench.fanout_dynamodb [--owners 20000] [--page 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prometheus_client import REGISTRY

from bench._servers import local_server
from murmur.domain import IdGenerator, PostId, TimelineEntry, UserId
from murmur.settings import AwsSettings
from murmur.storage.base import TimelineStore
from murmur.storage.dynamodb import DEFAULT_TRIM_EVERY, DynamoTimelineStore
from murmur.storage.sqlite import SqliteDatabase, SqliteTimelineStore

RESULTS = Path("bench-results/fanout_dynamodb.json")
CAP = 800
TARGET_OWNERS = 100_000
TARGET_REQUESTS_PER_DELIVERY = 0.1
MOTO_NOTE = "moto is an in-process Python emulator, much slower than DynamoDB: compare calls, not speed"


@dataclass
class Result:
    store: str
    followers: int
    page: int
    seconds: float
    deliveries_per_second: float
    requests: dict[str, float] = field(default_factory=dict)  # per operation (DynamoDB only)
    requests_per_delivery: float = 0.0
    reported_units_per_delivery: dict[str, float] = field(default_factory=dict)  # as moto reports
    billed_units_per_delivery: dict[str, float] = field(default_factory=dict)  # as DynamoDB would bill
    note: str = ""


def aws_counts() -> tuple[dict[str, float], dict[str, float]]:
    """(requests per DynamoDB operation, capacity units per kind) so far in this process."""
    requests: dict[str, float] = {}
    units: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "murmur_aws_requests_total" and sample.labels["service"] == "dynamodb":
                requests[sample.labels["operation"]] = sample.value
            elif sample.name == "murmur_dynamodb_capacity_units_total":
                units[sample.labels["kind"]] = sample.value
    return requests, units


def since(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: value - before.get(key, 0.0) for key, value in now.items() if value != before.get(key, 0.0)}


async def push(store: TimelineStore, name: str, followers: list[UserId], page: int) -> Result:
    """One post to every follower, a page at a time, as the fan-out worker sends it."""
    ids = IdGenerator(node=7)
    entry = TimelineEntry(post_id=PostId(ids.next_id()), author_id=UserId(ids.next_id()))
    requests_before, units_before = aws_counts()
    started = time.perf_counter()
    for start in range(0, len(followers), page):
        await store.add_to_timelines(owners=followers[start : start + page], entry=entry)
        done = min(start + page, len(followers))
        elapsed = time.perf_counter() - started
        print(f"\r  {name}: {done:,}/{len(followers):,} timelines, {elapsed:.1f} s", end="", flush=True)
    seconds = time.perf_counter() - started
    print()
    requests_after, units_after = aws_counts()  # before the check below: it is not the push's cost
    sample = random.Random(2).sample(followers, min(1000, len(followers)))
    sizes = await store.timeline_sizes(owners=sample)
    assert set(sizes.values()) == {1}, f"{name}: timelines hold {set(sizes.values())}, not 1"
    result = Result(name, len(followers), page, seconds, len(followers) / seconds)
    if isinstance(store, DynamoTimelineStore):
        result.requests = since(requests_after, requests_before)
        result.requests_per_delivery = sum(result.requests.values()) / len(followers)
        units = since(units_after, units_before)
        result.reported_units_per_delivery = {kind: n / len(followers) for kind, n in sorted(units.items())}
        result.billed_units_per_delivery = billed_units(result.requests, len(followers))
    return result


def billed_units(requests: dict[str, float], deliveries: int) -> dict[str, float]:
    """What DynamoDB would bill for this push, per delivery: one WCU per put (items < 1 KB), one
    RCU per strongly consistent GetItem or Query page (each under 4 KB: one-entry timelines).
    A trim that deletes (none here: the timelines are far below the cap) adds 2 WCU per item
    of its transactions."""
    reads = requests.get("GetItem", 0.0) + requests.get("Query", 0.0)
    assert not requests.get("TransactWriteItems"), "a trim deleted entries: the estimate leaves that out"
    return {"read": reads / deliveries, "write": 1.0}


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


def report(results: list[Result]) -> None:
    for result in results:
        print(
            f"  {result.store:16} {result.seconds:8.1f} s  {result.deliveries_per_second:10,.0f} deliveries/s"
        )
    for result in results:
        if not result.requests:
            continue
        ops = ", ".join(f"{op} {n:,.0f}" for op, n in sorted(result.requests.items()))
        verdict = "ok" if result.requests_per_delivery <= TARGET_REQUESTS_PER_DELIVERY else "MISSED"
        print(f"  {result.store}: {sum(result.requests.values()):,.0f} requests ({ops})")
        print(
            f"    {result.requests_per_delivery:.4f} requests/delivery"
            f"  <= {TARGET_REQUESTS_PER_DELIVERY}  {verdict}"
            f"  (the same ratio at {TARGET_OWNERS:,} followers: every term grows linearly)"
        )
        reported = result.reported_units_per_delivery
        billed = result.billed_units_per_delivery
        print(
            f"    capacity units/delivery as moto reports them: read {reported.get('read', 0):.4f},"
            f" write {reported.get('write', 0):.4f} (nominal)"
        )
        print(
            f"    as DynamoDB would bill them: read {billed['read']:.4f} RCU, write {billed['write']:.4f} WCU"
        )


async def main() -> list[Result]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--owners",
        "--followers",
        dest="owners",
        type=int,
        default=20_000,
        help=f"timelines the post goes to (the target case is {TARGET_OWNERS:,}: hours on moto)",
    )
    parser.add_argument("--page", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16, help="DynamoDB calls in flight")
    args = parser.parse_args()

    ids = IdGenerator(node=6)
    followers = [UserId(ids.next_id()) for _ in range(args.owners)]
    random.Random(1).shuffle(followers)  # follow order, not id order
    print(
        f"Push fan-out of one post to {args.owners:,} empty timelines (cap {CAP},"
        f" a trim for one in {DEFAULT_TRIM_EVERY}), pages of {args.page:,}"
    )
    print(f"  note: {MOTO_NOTE}")
    results = [await sqlite(followers, args.page)]
    with local_server("moto_server") as moto:
        results.append(await dynamodb(moto.endpoint_url, followers, args.page, args.concurrency))
    report(results)
    return results


if __name__ == "__main__":
    outcome = asyncio.run(main())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(r) for r in outcome], indent=2))
