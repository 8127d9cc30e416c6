"""Push fan-out into Redis hot timelines: one post to 100,000 followers' sorted sets.

Starts its own redis-server on a free loopback port (no persistence; stopped by PID at
the end), fills 100,000 hot timelines to their cap (twice: in today's layout, newest first,
and in the previous one, oldest first, for the previous push), then times pushing one new
post to all of them, in batches of 100, 1,000 and 5,000 owners (owners per pipeline, or
per script call), four ways:

- zadd                     ZADD alone, pipelined (into today's sets): the least a client
                           sends when it sends a command per owner
- per-owner script         the previous RedisHotTimelines push, into sets of its layout:
                           one TIME, then one EVALSHA per owner (in pipelines) of a script
                           that lands only in sets that exist and trims each to the cap
- hot timelines            RedisHotTimelines.add_to_timelines itself (its durable store does
                           nothing here): one TIME, then one script call per batch of keys
                           doing the per-owner work in Redis, two calls in flight, each set
                           trimmed by about one push in 8
- hot timelines, eager     the same, trimming every set on every push

Deliveries per second = owners / wall seconds (median of --runs). Also the client's CPU
seconds and Redis's (INFO CPU: used_cpu_user + used_cpu_sys, before and after): which
side bounds the push. The machine's load average is recorded too: on a shared machine,
the CPU seconds are steadier than wall time. Writes bench-results/fanout_redis.json.

    python -m bench.fanout_redis [--owners 100000] [--cap 100] [--runs 3] [--batches 100,1000,5000]
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
from murmur.storage.redis.timelines import KEY_NAME, KEYS_PER_CALL, TRIM_SETS_EVERY

RESULTS = Path("bench-results/fanout_redis.json")
METHODS = ("zadd", "per-owner script", "hot timelines", "hot timelines, eager")
# deliveries/s measured on these machines before the push moved into one script call per batch
REFERENCE = {"zadd": 65_000, "per-owner script": 40_000}
TARGET = 150_000  # deliveries/s the hot-timelines push should reach from one process

# The previous RedisHotTimelines push, run once per owner, on sets ordered oldest first with
# the marker (score minus the fill's start) at rank 0. KEYS[1] a timeline; ARGV: cap, Redis
# time (µs) after the durable write, pairs...
PER_OWNER_PUSH = """
local marker = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #marker == 0 or -tonumber(marker[2]) > tonumber(ARGV[2]) then return 0 end
for i = 3, #ARGV, 1000 do
  redis.call('ZADD', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(tonumber(ARGV[1]) + 1))
return 1
"""


@dataclass
class Row:
    method: str
    batch: int  # owners per pipeline, or per script call
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
        self.trim_every = 1

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        return None


async def server_cpu(conn: RedisConnection) -> float:
    info = await conn.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def prefill(conn: RedisConnection, keys: list[str], cap: int, *, newest_first: bool) -> None:
    """Every timeline hot (the complete marker) and full: copies of one set of cap week-old
    entries. Newest first is today's layout (score = minus the post id, the marker below
    every post); the previous one had score = the post id, the marker below at minus its time."""
    ids = IdGenerator(node=6)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    sign = -1 if newest_first else 1
    # member -> score; the marker, as if filled at 1 µs past the epoch
    scores = {"!": -(1 << 53) - 2 if newest_first else -1}
    for i in range(cap):
        post_id = ids.next_id(week_ago + timedelta(seconds=i))
        scores[f"{post_id}:{i + 1}"] = sign * int(post_id)
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
    client = conn.client
    if method.startswith("hot timelines"):
        hot = RedisHotTimelines(
            inner=NoDurableStore(cap),  # type: ignore[arg-type]  # only what the push asks of it
            conn=conn,
            keys_per_call=size,
            trim_sets_every=1 if method.endswith("eager") else TRIM_SETS_EVERY,
        )
        await hot.add_to_timelines(owners=owners, entry=entry)
        return
    score, member = int(entry.post_id), f"{entry.post_id}:{entry.author_id}"
    if method == "zadd":
        for start in range(0, len(keys), size):
            pipe = client.pipeline(transaction=False)
            for key in keys[start : start + size]:
                pipe.zadd(key, {member: -score})  # today's layout
            await pipe.execute()
        return
    script = client.register_script(PER_OWNER_PUSH)
    seconds, micros = await client.time()
    args = (cap, seconds * 1_000_000 + micros, score, member)
    for start in range(0, len(keys), size):
        pipe = client.pipeline(transaction=False)
        pipe.scripts.add(script)  # type: ignore[arg-type]  # loaded if missing, as redis-py's AsyncScript does
        for key in keys[start : start + size]:
            pipe.evalsha(script.sha, 1, key, *args)
        await pipe.execute()


async def measure(
    conn: RedisConnection,
    owners: list[UserId],
    layouts: dict[str, list[str]],
    *,
    cap: int,
    size: int,
    runs: int,
    ids: IdGenerator,
) -> list[Row]:
    rows = []
    for method in METHODS:
        keys = layouts["oldest first" if method == "per-owner script" else "newest first"]
        row = Row(method, size, owners=len(owners))
        for _ in range(runs):
            entry = TimelineEntry(post_id=PostId(ids.next_id()), author_id=UserId("42"))
            cpu, server, wall = time.process_time(), await server_cpu(conn), time.perf_counter()
            await push(method, conn, owners, keys, entry, cap=cap, size=size)
            row.seconds.append(time.perf_counter() - wall)
            row.client_cpu_seconds.append(time.process_time() - cpu)
            row.server_cpu_seconds.append(await server_cpu(conn) - server)
            member = f"{entry.post_id}:{entry.author_id}"
            await check_delivered(conn, keys, member, exact=method in EXACT, cap=cap)
        rows.append(row)
        print(report(row), flush=True)
    return rows


# after these every set holds exactly cap entries and the marker (the lazy push trims some)
EXACT = ("per-owner script", "hot timelines, eager")


async def check_delivered(
    conn: RedisConnection, keys: list[str], member: str, *, exact: bool, cap: int
) -> None:
    sample = keys[:: max(1, len(keys) // 100)]
    pipe = conn.client.pipeline(transaction=False)
    for key in sample:
        pipe.zscore(key, member)
        pipe.zcard(key)
    answers = await pipe.execute()
    assert all(score is not None for score in answers[::2]), "a push did not reach every timeline"
    sizes = set(answers[1::2])
    if exact:
        assert sizes == {cap + 1}, f"timelines hold {sizes}, not cap + marker"
    assert min(sizes) >= cap + 1, f"timelines hold {sizes}: fewer than cap + marker"


def report(row: Row) -> str:
    runs = " ".join(f"{s:.2f}" for s in row.seconds)
    return (
        f"  {row.method:<21} batch {row.batch:>5,}: {row.per_second:>9,.0f} deliveries/s"
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
    parser.add_argument(
        "--batches", default="100,1000,5000", help="owners per pipeline or script call, comma-separated"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.batches.split(",")]
    load_before = os.getloadavg()

    with local_server("redis_server") as redis:
        conn = await RedisConnection.open(RedisSettings(url=redis.url), prefix="bench:")
        try:
            ids = IdGenerator(node=7)
            owners = [UserId(str(10_000_000 + i)) for i in range(args.owners)]
            layouts = {
                "newest first": [conn.key(KEY_NAME + owner) for owner in owners],
                "oldest first": [conn.key(f"timeline:{owner}") for owner in owners],
            }
            started = time.perf_counter()
            for layout, keys in layouts.items():
                await prefill(conn, keys, args.cap, newest_first=layout == "newest first")
            print(
                f"Redis push fan-out: {args.owners:,} hot timelines, each full at cap {args.cap}, in"
                f" both layouts (filled in {time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            rows = []
            for size in sizes:
                rows += await measure(conn, owners, layouts, cap=args.cap, size=size, runs=args.runs, ids=ids)
            redis_version = (await conn.client.info("server"))["redis_version"]
        finally:
            await conn.close()

    best = {
        method: max((r for r in rows if r.method == method), key=lambda r: r.per_second) for method in METHODS
    }
    load_after = os.getloadavg()
    print(
        f"best (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, {os.cpu_count()} cpus):"
    )
    for method, row in best.items():
        reference = f" (reference ~{REFERENCE[method]:,}/s)" if method in REFERENCE else ""
        if method == "hot timelines":
            reference = f" (target {TARGET:,}/s)"
        print(f"  {method:<21} {row.per_second:>9,.0f} deliveries/s at batch {row.batch:,}{reference}")
    # what RedisHotTimelines does unless told otherwise
    default = next((r for r in rows if r.method == "hot timelines" and r.batch == KEYS_PER_CALL), None)
    if default is not None:
        print(
            f"  hot timelines at its default {KEYS_PER_CALL:,} keys a call: {default.per_second:,.0f} deliveries/s"
        )
    return {
        "owners": args.owners,
        "cap": args.cap,
        "runs": args.runs,
        "machine": {
            **machine(str(redis_version)),
            "load_average": {"before": load_before, "after": load_after},
        },
        "rows": [
            {
                **asdict(row),
                "deliveries_per_second": row.per_second,
                "deliveries_per_client_cpu_second": row.per_client_cpu_second,
            }
            for row in rows
        ],
        "best": {
            method: {"batch": row.batch, "deliveries_per_second": row.per_second}
            for method, row in best.items()
        },
        "hot_timelines_at_default_batch": None if default is None else default.per_second,
        "reference_deliveries_per_second": REFERENCE,
        "target_deliveries_per_second": TARGET,
    }


if __name__ == "__main__":
    results = asyncio.run(main())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
