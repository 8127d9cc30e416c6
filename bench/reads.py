"""Home-timeline reads on SQLite: one page for a viewer who follows 5,000 people, per strategy.

Builds one SQLite world — 100,000 users with 0–10 posts each over 30 days (~500,000 posts),
a viewer following 5,000 of them, 50 of whom are celebrities whose posts are pulled —
then times `Feed.home_timeline` (the core's read: the viewer's sources, the posts, the
cursor and the cap; no GraphQL) for the first page and a page further down, under push,
pull and hybrid, and counts the store operations each page costs. The sources cache is
warm, as it is for a reader who keeps reading.

Target (the fan-out issue): a pull page in at most 5 ms (26.8 ms before sources were
cached and many-author reads scanned windows).

    python -m bench.reads [--followees 5000] [--users 100000] [--runs 200]
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

from murmur.domain import IdGenerator, PostId, UserId
from murmur.metrics import store_operation_counts
from murmur.platform import Platform, assemble
from murmur.settings import Settings, Strategy
from murmur.storage.factory import open_backends

TARGET_MS = 5.0
RESULTS = Path("bench-results/reads.json")
CELEBRITIES = 50


@dataclass
class Row:
    strategy: str
    page: str
    median_ms: float
    p99_ms: float
    store_operations: float  # per page
    by_operation: dict[str, float]


async def build(path: Path, *, users: int, followees: int) -> tuple[int, list[int], list[int]]:
    """The world, written straight into SQLite; (viewer, followees, celebrities)."""
    settings = Settings(data_dir=path, seed={"enabled": False})
    backends = await open_backends(settings)
    db = backends.resources[0]
    rng, ids, now = random.Random(7), IdGenerator(node=9), datetime.now(UTC)
    people = [int(ids.next_id(at=now - timedelta(days=60))) for _ in range(users)]
    viewer, followed = people[0], rng.sample(people[1:], followees)
    celebrities = set(followed[:CELEBRITIES])
    posts = []
    for author in people:
        for _ in range(rng.randint(0, 10)):
            at = now - timedelta(seconds=rng.randrange(30 * 86_400))
            delivery = "pulled" if author in celebrities else "pushed"
            posts.append(
                (
                    int(ids.next_id(at=at)),
                    author,
                    "a post of a usual length " * 3,
                    int(at.timestamp() * 1000),
                    delivery,
                )
            )
    async with db.write() as tx:  # type: ignore[attr-defined]
        await tx.executemany(
            "INSERT INTO users (id, username, display_name, bio, created_at, password_hash)"
            " VALUES (?, ?, ?, '', ?, 'x')",
            [(p, f"u{p}", f"U{p}", int(now.timestamp() * 1000)) for p in people],
        )
        await tx.executemany(
            "INSERT INTO posts (id, author_id, body, created_at, delivery) VALUES (?, ?, ?, ?, ?)", posts
        )
        await tx.executemany(
            "INSERT INTO follows (follower, followee) VALUES (?, ?)", [(viewer, f) for f in followed]
        )
        await tx.execute(
            "INSERT INTO follow_counts (user_id, followers, following) VALUES (?, 0, ?)", (viewer, followees)
        )
    await backends.close()
    print(f"built {users:,} users, {len(posts):,} posts, a viewer following {followees:,}")
    return viewer, followed, sorted(celebrities)


async def measure(path: Path, strategy: Strategy, viewer: UserId, runs: int) -> list[Row]:
    settings = Settings(data_dir=path, fanout=strategy, hybrid_threshold=1000, seed={"enabled": False})
    backends = await open_backends(settings)
    platform: Platform = assemble(settings, backends)
    try:
        if strategy is not Strategy.PULL:
            await platform.fanout.repair.rebuild(viewer)
        first = await platform.feed.home_timeline(viewer=viewer, after=None, start=0, first=20)
        deeper = PostId(first.post_ids[-1])
        rows = []
        pages: list[tuple[str, PostId | None, int]] = [("first page", None, 0), ("page 2", deeper, 20)]
        if strategy is not Strategy.PULL:
            # a reader's first page checks the timeline against the truth every 5 minutes
            # (fanout/healing.py): what that one page costs, measured apart
            pages.append(("first page + heal check", None, 0))
        for page, after, start in pages:
            platform.feed.healing.check_every = 0.0 if page.endswith("heal check") else 3600.0
            await platform.feed.home_timeline(viewer=viewer, after=after, start=start, first=20)  # warm
            before = store_operation_counts()
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                await platform.feed.home_timeline(viewer=viewer, after=after, start=start, first=20)
                seconds.append(time.perf_counter() - started)
            after_counts = store_operation_counts()
            delta = {
                f"{store}.{op}": (after_counts[(store, op)] - before.get((store, op), 0.0)) / runs
                for store, op in after_counts
                if after_counts[(store, op)] != before.get((store, op), 0.0)
            }
            ms = sorted(s * 1000 for s in seconds)
            rows.append(
                Row(
                    strategy=strategy.value,
                    page=page,
                    median_ms=round(statistics.median(ms), 3),
                    p99_ms=round(ms[int(len(ms) * 0.99) - 1], 3),
                    store_operations=round(sum(delta.values()), 2),
                    by_operation={k: round(v, 2) for k, v in sorted(delta.items())},
                )
            )
        return rows
    finally:
        await backends.close()


async def main(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="murmur-bench-reads-") as tmp:
        path = Path(tmp)
        viewer, _, _ = await build(path, users=args.users, followees=args.followees)
        rows = [row for s in Strategy for row in await measure(path, s, UserId(str(viewer)), args.runs)]
    print(f"\n{'strategy':8} {'page':11} {'median ms':>10} {'p99 ms':>8} {'store ops':>10}  by operation")
    for row in rows:
        ops = ", ".join(f"{k} {v:g}" for k, v in row.by_operation.items())
        print(
            f"{row.strategy:8} {row.page:11} {row.median_ms:10.2f} {row.p99_ms:8.2f} {row.store_operations:10.2f}  {ops}"
        )
    pull = max(r.median_ms for r in rows if r.strategy == "pull")
    verdict = "ok" if pull <= TARGET_MS else "MISSED"
    print(f"\npull page, {args.followees:,} followees: {pull:.2f} ms (target <= {TARGET_MS} ms)  {verdict}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--followees", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=200)
    arguments = parser.parse_args()
    measured = asyncio.run(main(arguments))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"followees": arguments.followees, "rows": [asdict(r) for r in measured]}, indent=2)
    )
