"""Push fan-out into SQLite: one post to 100,000 timelines, in the worker's chunks of 5,000.

Times `SqliteTimelineStore.add_to_timelines` the way a push fan-out calls it (one
call, one transaction, per chunk of followers, in follower order) on a fresh
database whose owners already hold timelines, and, alternating with it in the same
run, the yardstick: a bare `executemany` of the same 100,000 rows into the same table
in one transaction. Two scenarios by default:

- below the cap: every timeline holds 50 entries of 800, so nothing is trimmed;
- full: every timeline is at its cap (50): the store trims about one owner in 16 per
  push (lazily, amortised), the rest keep an entry past the cap until their turn.

The database runs as in the app (background checkpoints on); the checkpoint that
copies the push's WAL back into the database once it is over is timed on its own.
A first, unmeasured push turns the bulk-loaded (100% full) pages into the half-full
pages that timelines built by fan-out have.

    python -m bench.sqlite_push [--owners 100000] [--page 5000] [--runs 3]
    python -m bench.sqlite_push --cap 800 --prefill 800     # one scenario: full at the real cap (~2.5 GB)

Target (the fan-out issue): the push within 1.5x the bare executemany measured in the
same run. Prints MISSED (and still exits 0) when over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from murmur.domain import IdGenerator, PostId, TimelineEntry, UserId
from murmur.storage.sqlite import SqliteDatabase, SqliteTimelineStore
from murmur.storage.sqlite.database import PAGE_SIZE

TARGET_RATIO = 1.5  # push / bare executemany of the same rows
TARGET_OWNERS = 100_000
RESULTS = Path("bench-results/sqlite_push.json")


@dataclass
class Result:
    scenario: str
    owners: int
    page: int
    cap: int
    prefill: int
    push_seconds: list[float]
    cpu_seconds: list[float]  # of this process, all threads: steadier than wall time on a busy machine
    checkpoint_seconds: list[float]
    bare_seconds: list[float]  # executemany of the same rows, alternating with the pushes

    @property
    def median(self) -> float:
        return statistics.median(self.push_seconds)

    @property
    def ratio(self) -> float:
        return self.median / statistics.median(self.bare_seconds)


async def prefill(db: SqliteDatabase, owners: list[int], per_owner: int) -> None:
    """per_owner week-old entries in each timeline, written in bulk (not what is measured)."""
    ids = IdGenerator(node=2)
    week_ago = datetime.now(UTC) - timedelta(days=7)
    posts = [int(ids.next_id(week_ago + timedelta(seconds=i))) for i in range(per_owner)]
    async with db.write() as tx:
        await tx.execute("CREATE TEMP TABLE bench_posts (post_id INTEGER PRIMARY KEY)")
        await tx.executemany("INSERT INTO bench_posts VALUES (?)", [(p,) for p in posts])
        for start in range(0, len(owners), 10_000):
            chunk = owners[start : start + 10_000]
            await tx.execute(
                "INSERT INTO timelines SELECT o.value, p.post_id, p.post_id % 1000003"
                " FROM json_each(?) AS o, bench_posts AS p",
                (json.dumps(chunk),),
            )
        await tx.execute("DROP TABLE bench_posts")
    await db.checkpoint()


async def scenario(name: str, *, owners: int, page: int, cap: int, per_owner: int, runs: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="murmur-push-") as tmp:
        db = await SqliteDatabase.open(Path(tmp) / "push.db")  # the app's settings, background checkpoints on
        try:
            store = SqliteTimelineStore(db=db, cap=cap)
            ids = IdGenerator(node=3)
            joined = datetime.now(UTC) - timedelta(days=30)
            owner_ids = [int(ids.next_id(joined + timedelta(milliseconds=i // 100))) for i in range(owners)]
            started = time.perf_counter()
            await prefill(db, owner_ids, per_owner)
            print(
                f"  {name}: prefilled {owners * per_owner:,} entries in {time.perf_counter() - started:.1f} s"
            )
            followers = [UserId(str(o)) for o in owner_ids]
            random.Random(1).shuffle(followers)  # a follower list is in follow order, not id order

            async def push() -> tuple[float, float, float]:
                entry = TimelineEntry(post_id=PostId(ids.next_id()), author_id=UserId(ids.next_id()))
                wall, cpu = time.perf_counter(), time.process_time()
                for start in range(0, owners, page):
                    await store.add_to_timelines(owners=followers[start : start + page], entry=entry)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                started = time.perf_counter()
                await db.checkpoint()  # what the background task would copy back after the burst
                return wall, cpu, time.perf_counter() - started

            async def bare() -> float:
                """The same rows, one executemany in one transaction: what writing them costs."""
                post, author = int(ids.next_id()), int(ids.next_id())
                rows = [(int(owner), post, author) for owner in followers]
                wall = time.perf_counter()
                async with db.write() as tx:
                    await tx.executemany(
                        "INSERT INTO timelines (owner, post_id, author_id) VALUES (?, ?, ?)", rows
                    )
                wall = time.perf_counter() - wall
                await db.checkpoint()
                return wall

            # unmeasured: a bulk-loaded table has full pages, so the first push splits nearly all of them
            await push()
            await bare()
            measured, bares = [], []
            for _ in range(runs):  # alternating, so both meet the same table and the same machine
                measured.append(await push())
                bares.append(await bare())
            window = await store.timeline(owner=followers[0], before=None, limit=cap + 10)
            assert len(window) == min(cap, per_owner + 2 * runs + 2), f"the window holds {len(window)}"
        finally:
            await db.close()
    return Result(
        name,
        owners,
        page,
        cap,
        per_owner,
        push_seconds=[m[0] for m in measured],
        cpu_seconds=[m[1] for m in measured],
        checkpoint_seconds=[m[2] for m in measured],
        bare_seconds=bares,
    )


def report(result: Result) -> str:
    runs = " ".join(f"{s:.2f}" for s in result.push_seconds)
    bare = " ".join(f"{s:.2f}" for s in result.bare_seconds)
    verdict = "ok" if result.ratio <= TARGET_RATIO else "MISSED"
    target = f"{verdict}: target push <= {TARGET_RATIO}x executemany"
    if result.owners != TARGET_OWNERS:
        target += f" (the target is for {TARGET_OWNERS:,} timelines)"
    return (
        f"  {result.scenario}: push {result.median:.2f} s, executemany {statistics.median(result.bare_seconds):.2f} s"
        f" (median), {result.ratio:.2f}x [{target}]\n"
        f"    push runs {runs} s; executemany runs {bare} s; push cpu {statistics.median(result.cpu_seconds):.2f} s;"
        f" WAL copied back after a push in {statistics.median(result.checkpoint_seconds):.2f} s"
    )


async def main() -> list[Result]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--owners", type=int, default=TARGET_OWNERS)
    parser.add_argument("--page", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cap", type=int, help="run one scenario with this cap (with --prefill)")
    parser.add_argument("--prefill", type=int, default=None, help="entries per timeline before the push")
    args = parser.parse_args()

    if args.cap is not None:
        per_owner = args.cap if args.prefill is None else args.prefill
        plans = [(f"cap {args.cap}, {per_owner} entries each", args.cap, per_owner)]
    else:
        plans = [
            ("below the cap (800), 50 entries each", 800, 50),
            ("full (cap 50), every owner trimmed", 50, 50),
        ]
    print(f"SQLite push fan-out: pages of {args.page:,}, {PAGE_SIZE} B database pages")
    results = []
    for name, cap, per_owner in plans:
        result = await scenario(
            name, owners=args.owners, page=args.page, cap=cap, per_owner=per_owner, runs=args.runs
        )
        print(report(result))
        results.append(result)
    return results


def save(results: list[Result]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    save(asyncio.run(main()))
