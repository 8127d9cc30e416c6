"""Push fan-out into Redis hot timelines: one post to 100,000 followers' sorted sets.

Starts its own redis-server on a free loopback port (no persistence; stopped by PID at
the end), fills 100,000 hot timelines to their cap, then times pushing one new post to
all of them, in pipelines of 100, 1,000 and 5,000 owners, three ways:

- zadd            ZADD alone: the floor
- zadd+trim       ZADD + ZREMRANGEBYRANK per owner: the textbook capped push
- hot timelines   RedisHotTimelines.add_to_timelines itself (its durable store does
                  nothing here): one EVALSHA per owner of the script that lands only in
                  sets that exist and trims to the cap, plus one TIME per call

Deliveries per second = owners / wall seconds (median of --runs). Also the client's CPU
seconds and Redis's (INFO CPU: used_cpu_user + used_cpu_sys, before and after): which
side bounds the push. Writes bench-results/fanout_redis.json.

    python -m bench.fanout_redis [--owners 100000] [--cap 100] [--runs 3] [--pipelines 100,1000,5000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._servers import local_server
from murmur.domain import IdGenerator, PostId, TimelineEntry, UserId
from murmur.settings import RedisSettings
from murmur.storage.redis import RedisConnection, RedisHotTimelines

RESULTS = Path("bench-results/fanout_redis.json")
METHODS = ("zadd", "zadd+trim", "hot timelines")
REFERENCE = {"zadd": 65_000, "zadd+trim": 30_000}  # deliveries/s of redis-py pipelines on these machines


@dataclass
class Row:
    method: str
    pipeline: int
    seconds: list[float] = field(default_factory=list)
    client_cpu_seconds: list[float] = field(default_factory=list)
    server_cpu_seconds: list[float] = field(default_factory=list)
    owners: int = 0

    @property
    def per_second(self) -> float:
        return self.owners / statistics.median(self.seconds)

    @property
    def per_client_cpu_second(self) -> float:
        """Steadier than wall time on a busy machine: what one client core would sustain."""
        return self.owners / statistics.median(self.client_cpu_seconds)


class NoDurableStore:
    """The durable half of RedisHotTimelines, doing nothing: only the Redis half is timed."""

    def __init__(self, cap: int) -> None:
        self.cap = cap

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        return None


async def server_cpu(conn: RedisConnection) -> float:
    info = await conn.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def prefill(conn: RedisConnection, keys: list[str], cap: int) -> None:
    """Every timeline hot (the complete marker) and full: copies of one set of cap week-old entries."""
    ids = IdGenerator(node=6)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    scores = {"!": -1}  # member -> score; the marker, as if filled long ago
    for i in range(cap):
        post_id = ids.next_id(week_ago + timedelta(seconds=i))
        scores[f"{post_id}:{i + 1}"] = int(post_id)
    template = conn.key("template")
    await conn.client.zadd(template, scores)
    for start in range(0, len(keys), 5000):
        pipe = conn.client.pipeline(transaction=False)
        for key in keys[start : start + 5000]:
            pipe.copy(template, key, replace=True)
            pipe.expire(key, 24 * 3600)
        await pipe.execute()
    await conn.client.delete(template)


async def push(
    method: str,
    conn: RedisConnection,
    owners: list[UserId],
    keys: list[str],
    entry: TimelineEntry,
    *,
    cap: int,
    size: int,
) -> None:
    if method == "hot timelines":
        hot = RedisHotTimelines(inner=NoDurableStore(cap), conn=conn, pipeline_size=size)  # type: ignore[arg-type]
        await hot.add_to_timelines(owners=owners, entry=entry)
        return
    score, member = int(entry.post_id), f"{entry.post_id}:{entry.author_id}"
    for start in range(0, len(keys), size):
        pipe = conn.client.pipeline(transaction=False)
        for key in keys[start : start + size]:
            pipe.zadd(key, {member: score})
            if method == "zadd+trim":
                pipe.zremrangebyrank(key, 1, -(cap + 1))  # rank 0 is the marker
        await pipe.execute()


async def measure(
    conn: RedisConnection,
    owners: list[UserId],
    keys: list[str],
    *,
    cap: int,
    size: int,
    runs: int,
    ids: IdGenerator,
) -> list[Row]:
    rows = []
    for method in METHODS:
        row = Row(method, size, owners=len(owners))
        for _ in range(runs):
            entry = TimelineEntry(post_id=PostId(ids.next_id()), author_id=UserId("42"))
            cpu, server, wall = time.process_time(), await server_cpu(conn), time.perf_counter()
            await push(method, conn, owners, keys, entry, cap=cap, size=size)
            row.seconds.append(time.perf_counter() - wall)
            row.client_cpu_seconds.append(time.process_time() - cpu)
            row.server_cpu_seconds.append(await server_cpu(conn) - server)
            member = f"{entry.post_id}:{entry.author_id}"
            await check_delivered(conn, keys, member, trimmed=method != "zadd", cap=cap)
        rows.append(row)
        print(report(row), flush=True)
    return rows


async def check_delivered(
    conn: RedisConnection, keys: list[str], member: str, *, trimmed: bool, cap: int
) -> None:
    sample = keys[:: max(1, len(keys) // 100)]
    pipe = conn.client.pipeline(transaction=False)
    for key in sample:
        pipe.zscore(key, member)
        pipe.zcard(key)
    answers = await pipe.execute()
    assert all(score is not None for score in answers[::2]), "a push did not reach every timeline"
    if trimmed:
        assert set(answers[1::2]) == {cap + 1}, f"timelines hold {set(answers[1::2])}, not cap + marker"


def report(row: Row) -> str:
    runs = " ".join(f"{s:.2f}" for s in row.seconds)
    return (
        f"  {row.method:<14} pipeline {row.pipeline:>5,}: {row.per_second:>9,.0f} deliveries/s"
        f" ({row.per_client_cpu_second:>9,.0f} per client cpu s)  runs {runs} s;"
        f" client cpu {statistics.median(row.client_cpu_seconds):.2f} s,"
        f" redis cpu {statistics.median(row.server_cpu_seconds):.2f} s"
    )


def machine(redis_version: str) -> dict[str, Any]:
    cpu = None
    if Path("/proc/cpuinfo").exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            None,
        )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "redis_py": importlib.metadata.version("redis"),
        "git_commit": commit or None,
    }


async def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owners", type=int, default=100_000)
    parser.add_argument("--cap", type=int, default=100, help="timeline cap; every timeline starts full")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pipelines", default="100,1000,5000", help="owners per round trip, comma-separated")
    args = parser.parse_args()
    sizes = [int(size) for size in args.pipelines.split(",")]

    with local_server("redis_server") as redis:
        conn = await RedisConnection.open(RedisSettings(url=redis.url), prefix="bench:")
        try:
            ids = IdGenerator(node=7)
            owners = [UserId(str(10_000_000 + i)) for i in range(args.owners)]
            keys = [conn.key(f"timeline:{owner}") for owner in owners]
            started = time.perf_counter()
            await prefill(conn, keys, args.cap)
            print(
                f"Redis push fan-out: {args.owners:,} hot timelines, each full at cap {args.cap}"
                f" (filled in {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            rows = []
            for size in sizes:
                rows += await measure(conn, owners, keys, cap=args.cap, size=size, runs=args.runs, ids=ids)
            redis_version = (await conn.client.info("server"))["redis_version"]
        finally:
            await conn.close()

    best = {
        method: max((r for r in rows if r.method == method), key=lambda r: r.per_second) for method in METHODS
    }
    print("best:")
    for method, row in best.items():
        reference = f" (reference ~{REFERENCE[method]:,}/s)" if method in REFERENCE else ""
        print(f"  {method:<14} {row.per_second:>9,.0f} deliveries/s at pipeline {row.pipeline:,}{reference}")
    return {
        "owners": args.owners,
        "cap": args.cap,
        "runs": args.runs,
        "machine": machine(str(redis_version)),
        "rows": [
            {
                **asdict(row),
                "deliveries_per_second": row.per_second,
                "deliveries_per_client_cpu_second": row.per_client_cpu_second,
            }
            for row in rows
        ],
        "best": {
            method: {"pipeline": row.pipeline, "deliveries_per_second": row.per_second}
            for method, row in best.items()
        },
        "reference_deliveries_per_second": REFERENCE,
    }


if __name__ == "__main__":
    results = asyncio.run(main())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
