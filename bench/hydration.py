"""Hydrating one timeline page: posts_by_id for its 20 posts, then users_by_id for their 20 authors.

The two reads every timeline page makes once it has its post ids, measured side by side
in one run, as the two shapes run them:

- SQLite (one file, the embedded shape), straight and behind the read-through cache
  over the in-process MemoryCache;
- MongoDB (SecantusDB, started here on a free loopback port) straight and behind the
  read-through cache over Redis (redis-server, started here too), the cloud shape.

Each store is seeded with the same world through its own API (users, then 20-post pages
whose 20 authors are distinct). Every configuration reads each page once unrecorded
(this fills the cache, so cached rows are all hits: a page someone reads again), then
`--rounds` times in shuffled order, timing each page. The cache's effect is the uncached
time divided by the cached time, from the same run.

SecantusDB is a Python server: its numbers show this code's round trips over the MongoDB
wire protocol, not what MongoDB or DocumentDB would answer in.

    python -m bench.hydration [--users 1000] [--pages 200] [--rounds 5]

Writes bench-results/hydration.json. Exit status 1 when a configuration could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from murmur.domain import IdGenerator, Post, PostId, User, UserId, id_time
from murmur.settings import MongoSettings, RedisSettings
from murmur.storage.base import Cache, OutboxMessage, PostStore, UserStore
from murmur.storage.cached import CachedPostStore, CachedUserStore
from murmur.storage.memory import MemoryCache
from murmur.storage.mongo import MongoDatabase, MongoPostStore, MongoUserStore
from murmur.storage.redis import RedisCache, RedisConnection
from murmur.storage.sqlite import SqliteDatabase, SqlitePostStore, SqliteUserStore
from tests.servers import MongoServer, RedisServer
from tests.servers._process import ServerStartError
from tests.servers.plugin import STARTUP_TIMEOUT_SECONDS, ServerPool

RESULTS = Path("bench-results/hydration.json")
PAGE_SIZE = 20
SEED_CONCURRENCY = 32


@dataclass(frozen=True)
class World:
    users: list[User]
    posts: list[Post]
    pages: list[list[PostId]]  # each: PAGE_SIZE posts by PAGE_SIZE distinct authors


def make_world(n_users: int, n_pages: int) -> World:
    rng = random.Random(1)
    ids = IdGenerator(node=7)
    users = []
    for n in range(n_users):
        uid = UserId(ids.next_id())
        users.append(User(uid, f"user{n}", f"User {n}", "A bio of a typical length.", id_time(uid)))
    posts, pages = [], []
    for _ in range(n_pages):
        page = []
        for author in rng.sample(users, PAGE_SIZE):
            pid = PostId(ids.next_id())
            posts.append(Post(pid, author.id, "A post of about a tweet's length. " * 4, id_time(pid)))
            page.append(pid)
        pages.append(page)
    return World(users, posts, pages)


@dataclass(frozen=True)
class Stores:
    users: UserStore
    posts: PostStore


@dataclass(frozen=True)
class Backend:
    stores: Stores
    cache: Cache
    # after seeding, before measuring: finish background work the seeding started
    settle: Callable[[], Awaitable[None]] | None = None


async def seed(stores: Stores, world: World) -> float:
    started = time.perf_counter()
    gate = asyncio.Semaphore(SEED_CONCURRENCY)

    async def gated(write: Awaitable[None]) -> None:
        async with gate:
            await write

    await asyncio.gather(*(gated(stores.users.create_user(user=u, password_hash="x")) for u in world.users))
    await asyncio.gather(
        *(
            gated(stores.posts.create_post(post=p, outbox=OutboxMessage(f"{p.id}:created", b"")))
            for p in world.posts
        )
    )
    return time.perf_counter() - started


async def hydrate(stores: Stores, page: Sequence[PostId]) -> tuple[int, int]:
    """What a timeline page does once it has its post ids (the API's two DataLoader batches)."""
    posts = await stores.posts.posts_by_id(ids=page)
    authors = await stores.users.users_by_id(ids=list(dict.fromkeys(p.author_id for p in posts.values())))
    return len(posts), len(authors)


@dataclass
class Row:
    store: str
    cache: str
    pages: int = 0
    mean_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    error: str | None = None


async def measure(row: Row, stores: Stores, world: World, rounds: int) -> Row:
    for page in world.pages:  # unrecorded: warms connections and fills the cache
        if await hydrate(stores, page) != (PAGE_SIZE, PAGE_SIZE):
            raise RuntimeError(f"{row.store}/{row.cache}: a page did not hydrate fully")
    order = [page for _ in range(rounds) for page in world.pages]
    random.Random(2).shuffle(order)
    gc.collect()
    samples = []
    for page in order:
        started = time.perf_counter_ns()
        await hydrate(stores, page)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    row.pages = len(samples)
    row.mean_ms = statistics.fmean(samples)
    row.p50_ms = statistics.median(samples)
    row.p99_ms = statistics.quantiles(samples, n=100)[98]
    return row


# --- the two backends, each with its cache ---------------------------------------------------


@asynccontextmanager
async def sqlite_backend() -> AsyncIterator[Backend]:
    with tempfile.TemporaryDirectory(prefix="murmur-hydration-") as tmp:
        db = await SqliteDatabase.open(Path(tmp) / "murmur.db")
        try:
            # the WAL checkpoint after the seeding burst, now rather than during the measurement
            yield Backend(
                Stores(SqliteUserStore(db=db), SqlitePostStore(db=db)), MemoryCache(), db.checkpoint
            )
        finally:
            await db.close()


@asynccontextmanager
async def mongo_backend(mongo: MongoServer, redis: RedisServer) -> AsyncIterator[Backend]:
    settings = MongoSettings(uri=SecretStr(mongo.uri), database="hydration")
    db = await MongoDatabase.open(settings, create_indexes=True)
    conn = await RedisConnection.open(RedisSettings(url=redis.url))
    try:
        yield Backend(Stores(MongoUserStore(db=db), MongoPostStore(db=db)), RedisCache(conn=conn))
    finally:
        await conn.close()
        await db.close()


Opener = Callable[[], AbstractAsyncContextManager[Backend]]


async def bench_backend(
    name: str, cache_name: str, open_backend: Opener, world: World, rounds: int
) -> list[Row]:
    rows = [Row(name, "none"), Row(name, cache_name)]
    try:
        async with open_backend() as backend:
            stores, cache = backend.stores, backend.cache
            seconds = await seed(stores, world)
            if backend.settle is not None:
                await backend.settle()
            print(
                f"  {name}: seeded {len(world.users):,} users and {len(world.posts):,} posts in {seconds:.1f} s"
            )
            cached = Stores(
                CachedUserStore(inner=stores.users, cache=cache),
                CachedPostStore(inner=stores.posts, cache=cache),
            )
            await measure(rows[0], stores, world, rounds)
            await measure(rows[1], cached, world, rounds)
    except Exception as exc:  # one backend failing must not hide the other's numbers
        for row in rows:
            row.error = row.error or repr(exc)
    return rows


# --- report ------------------------------------------------------------------------------------


def ratio(slow: float | None, fast: float | None) -> float | None:
    return slow / fast if slow and fast else None


def ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Per store: uncached ÷ cached (how many times faster the cache makes a page)."""
    found = []
    for store in dict.fromkeys(r.store for r in rows):
        straight, cached = (r for r in rows if r.store == store)
        found.append(
            {
                "store": store,
                "cache": cached.cache,
                "mean": ratio(straight.mean_ms, cached.mean_ms),
                "p50": ratio(straight.p50_ms, cached.p50_ms),
                "p99": ratio(straight.p99_ms, cached.p99_ms),
            }
        )
    return found


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(rows: list[Row], effects: list[dict[str, Any]]) -> None:
    print()
    print(f"{'store':<8} {'cache':<8} {'pages':>6} {'mean ms':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for r in rows:
        line = f"{r.store:<8} {r.cache:<8} {r.pages:>6} {fmt(r.mean_ms):>9} {fmt(r.p50_ms):>9} {fmt(r.p99_ms):>9}"
        print(line + (f"  FAILED: {r.error}" if r.error else ""))
    print()
    print("cache effect (uncached ÷ cached, × faster):")
    for e in effects:
        print(
            f"  {e['store']:<8} {e['cache']:<8} mean {fmt(e['mean'], '.1f')}×"
            f"  p50 {fmt(e['p50'], '.1f')}×  p99 {fmt(e['p99'], '.1f')}×"
        )


def metadata() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        commit = ""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "git_commit": commit.strip() or None,
        "packages": {d: version(d) for d in ("pymongo", "secantusdb", "redis", "orjson")},
    }


def save(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000, help=f"at least {PAGE_SIZE}")
    parser.add_argument("--pages", type=int, default=200, help="distinct pages in the world")
    parser.add_argument("--rounds", type=int, default=5, help="times each page is read, measured")
    args = parser.parse_args(argv)
    if args.users < PAGE_SIZE:
        parser.error(f"--users must be at least {PAGE_SIZE}")

    world = make_world(args.users, args.pages)
    print(f"Hydrating {PAGE_SIZE}-post pages: {args.pages} pages × {args.rounds} rounds per configuration")
    rows = await bench_backend("sqlite", "memory", sqlite_backend, world, args.rounds)

    pool = ServerPool({"mongo_server", "redis_server"}, STARTUP_TIMEOUT_SECONDS)  # both boot at once
    try:
        try:
            mongo: MongoServer = pool.get("mongo_server")
            redis: RedisServer = pool.get("redis_server")
        except ServerStartError as exc:
            print(f"  mongo: servers could not start: {exc}", file=sys.stderr)
            rows += [Row("mongo", "none", error=exc.reason), Row("mongo", "redis", error=exc.reason)]
        else:
            rows += await bench_backend(
                "mongo", "redis", lambda: mongo_backend(mongo, redis), world, args.rounds
            )
    finally:
        pool.stop_all()

    effects = ratios(rows)
    print_report(rows, effects)
    save(
        {
            "settings": {**vars(args), "page_size": PAGE_SIZE},
            "metadata": metadata(),
            "rows": [asdict(r) for r in rows],
            "cache_effect": effects,
        }
    )
    print(f"\nwrote {RESULTS}")
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
