"""Streaming a generated world into Murmur's stores, in bulk.

The embedded shape's SQLite file is written directly (murmur.storage.sqlite.bulk); any
other store choice takes the same rows through the stores' bulk methods (import_users,
follow_many, import_posts, rebuild), thousands of rows per round trip. Each post's
delivery is what the strategy would have chosen when it was written (see `deliveries`),
and under push and hybrid the timelines are materialised as fan-out would have left
them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from loadtest.graph import World, tier_name
from murmur.auth import Passwords
from murmur.domain import Delivery, Post, PostId, TimelineEntry, User, UserId, id_key
from murmur.settings import Settings, Strategy
from murmur.socialgraph import TIERS
from murmur.storage.bundle import Backends
from murmur.storage.factory import open_backends
from murmur.storage.sqlite import SqliteDatabase
from murmur.storage.sqlite.bulk import SqliteBulkLoader

_BODIES = (
    "Shipping the new feed ranking today, notes to follow.",
    "Coffee, then the deploy. In that order.",
    "A thread on fan-out: push, pull, and the messy middle.",
    "Anyone else seeing the queue back up this morning?",
    "Small win: p99 down by a third after the cache change.",
    "Reading the Feeding Frenzy paper again. Still holds up.",
    "Weekend plans: a long run and no pager.",
    "Hot take: most timelines are read far more than written.",
)
STORE_BATCH = 2_000  # rows per bulk call when loading through the stores

Advance = Callable[[str, int], None]  # (phase, rows done)


class StoreNotEmpty(Exception):
    """The stores already hold users: a world is only loaded into fresh ones."""


@dataclass(frozen=True, slots=True)
class LoadReport:
    users: int
    edges: int
    posts: int
    timeline_entries: int
    seconds: dict[str, float]
    path: str  # "sqlite" (the direct file path) or "stores"

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def edges_per_second(self) -> float:
        return self.edges / self.seconds["follows"] if self.seconds.get("follows") else 0.0


def deliveries(world: World, strategy: Strategy, hybrid_threshold: int) -> list[Delivery]:
    """Each author's delivery for the generated history: what the strategy decides at
    write time. The cost-model hybrid has measured no rates for history yet, so it starts
    from the threshold rule, as it does for an author it knows nothing about."""
    match strategy:
        case Strategy.PUSH:
            return [Delivery.PUSHED] * world.users
        case Strategy.PULL:
            return [Delivery.PULLED] * world.users
        case _:
            pulled = world.followers_count > hybrid_threshold
            return [Delivery.PULLED if p else Delivery.PUSHED for p in pulled.tolist()]


def materialises(strategy: Strategy) -> bool:
    return strategy is not Strategy.PULL


def uses_sqlite_file(settings: Settings) -> bool:
    stores = settings.resolved_stores
    return {stores.users, stores.posts, stores.graph, stores.timelines} == {"sqlite"}


async def load_world(world: World, settings: Settings, advance: Advance) -> LoadReport:
    """Load into the stores the settings choose (they must hold no users yet)."""
    password_hash = await Passwords(
        time_cost=settings.auth.hash_time_cost, memory_kib=settings.auth.hash_memory_kib
    ).hash(settings.seed.demo_password.get_secret_value())
    plan = deliveries(world, settings.fanout, settings.hybrid_threshold)
    if uses_sqlite_file(settings):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if await _create_schema(settings.sqlite_path):
            raise StoreNotEmpty(f"{settings.sqlite_path} already holds users: generate into a fresh data dir")
        return await asyncio.to_thread(_load_sqlite_file, world, settings, plan, password_hash, advance)
    backends = await open_backends(settings)
    try:
        return await _load_through_stores(world, settings, plan, password_hash, backends, advance)
    finally:
        await backends.close()


def _load_sqlite_file(
    world: World, settings: Settings, plan: Sequence[Delivery], password_hash: str, advance: Advance
) -> LoadReport:
    seconds: dict[str, float] = {}
    entries = 0
    user_ids = _numeric_ids(world.user_ids)
    with SqliteBulkLoader(settings.sqlite_path) as load:
        started = time.perf_counter()
        load.users(_user_rows(world, user_ids, password_hash), lambda n: advance("users", n))
        seconds["users"] = _lap(started)
        started = time.perf_counter()
        load.follows(
            user_ids[world.follower].tolist(),
            user_ids[world.followee].tolist(),
            zip(
                user_ids.tolist(), world.followers_count.tolist(), world.following_count.tolist(), strict=True
            ),
            lambda n: advance("follows", n),
        )
        seconds["follows"] = _lap(started)
        started = time.perf_counter()
        load.posts(_post_rows(world, user_ids, plan), lambda n: advance("posts", n))
        seconds["posts"] = _lap(started)
        if materialises(settings.fanout):
            started = time.perf_counter()
            entries = load.materialise_timelines(cap=settings.timeline_max)
            advance("timelines", entries)
            seconds["timelines"] = _lap(started)
        load.finish()
    return LoadReport(world.users, world.edges, world.posts, entries, seconds, "sqlite")


async def _create_schema(path: Path) -> int:
    """Create the file's tables if need be; how many users it holds."""
    db = await SqliteDatabase.open(path, readers=1)
    try:
        row = await db.fetchone("SELECT count(*) FROM users")
        return int(row[0]) if row else 0
    finally:
        await db.close()


async def _load_through_stores(
    world: World,
    settings: Settings,
    plan: Sequence[Delivery],
    password_hash: str,
    b: Backends,
    advance: Advance,
) -> LoadReport:
    if await b.users.count_users():
        raise StoreNotEmpty("the stores already hold users: generate into fresh ones")
    seconds: dict[str, float] = {}
    ids = world.user_ids
    started = time.perf_counter()
    for rows in _chunks(range(world.users)):
        await b.users.import_users(users=[(_user(world, i), password_hash) for i in rows])
        advance("users", len(rows))
    seconds["users"] = _lap(started)
    started = time.perf_counter()
    follower, followee = world.follower.tolist(), world.followee.tolist()
    for rows in _chunks(range(world.edges)):
        await b.graph.follow_many(pairs=[(UserId(ids[follower[e]]), UserId(ids[followee[e]])) for e in rows])
        advance("follows", len(rows))
    seconds["follows"] = _lap(started)
    started = time.perf_counter()
    authors, post_ids = world.post_author.tolist(), world.post_ids
    for rows in _chunks(range(world.posts)):
        await b.posts.import_posts(posts=[_post(world, i, authors[i], post_ids[i], plan) for i in rows])
        advance("posts", len(rows))
    seconds["posts"] = _lap(started)
    entries = 0
    if materialises(settings.fanout):
        started = time.perf_counter()
        timelines = materialised_timelines(world, plan, cap=settings.timeline_max)
        semaphore = asyncio.Semaphore(16)

        async def rebuild(owner: int, owned: list[TimelineEntry]) -> None:
            async with semaphore:
                await b.timelines.rebuild(owner=UserId(ids[owner]), entries=owned)
            advance("timelines", len(owned))

        await asyncio.gather(*(rebuild(owner, owned) for owner, owned in timelines.items()))
        entries = sum(len(owned) for owned in timelines.values())
        seconds["timelines"] = _lap(started)
    return LoadReport(world.users, world.edges, world.posts, entries, seconds, "stores")


def materialised_timelines(
    world: World, plan: Sequence[Delivery], *, cap: int
) -> dict[int, list[TimelineEntry]]:
    """Each owner's timeline as fan-out leaves it (TimelineRepair.rebuild's rule): their
    own and their followees' pushed posts, newest first, at most `cap`."""
    ids, post_ids = world.user_ids, world.post_ids
    pushed = [d is Delivery.PUSHED for d in plan]
    by_author: dict[int, list[int]] = {}
    for index, author in enumerate(world.post_author.tolist()):
        if pushed[author]:
            by_author.setdefault(author, []).append(index)  # oldest first
    timelines: dict[int, list[TimelineEntry]] = {}
    followees = dict(world.followees_of())
    for owner in range(world.users):
        sources = [owner, *followees.get(owner, np.empty(0, dtype=np.int64)).tolist()]
        posts = sorted((p for s in sources for p in by_author.get(s, ())), reverse=True)[:cap]
        if posts:
            timelines[owner] = [
                TimelineEntry(post_id=PostId(post_ids[p]), author_id=UserId(ids[int(world.post_author[p])]))
                for p in posts
            ]
    return timelines


def write_personas(world: World, path: Path, report: LoadReport | None = None) -> None:
    """What the load generator needs to act as the generated users: their names, tiers,
    follower counts and ids, and the graph's shape."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "spec": {**asdict(world.spec), "now": world.spec.now.isoformat()},
        "fit": {
            "top": world.fit.top,
            "expected_mean_degree": world.fit.expected_mean_degree,
            "ranges": [{"tier": r.tier.value, "low": r.low, "high": r.high} for r in world.fit.ranges],
        },
        "users": world.users,
        "edges": world.edges,
        "posts": world.posts,
        "follower_following_correlation": world.follower_following_correlation(),
        "tiers": tier_summary(world),
        "load": None if report is None else {**asdict(report), "edges_per_second": report.edges_per_second},
        "personas": {
            "username": world.usernames,
            "id": world.user_ids,
            "tier": [tier_name(int(code)) for code in world.tiers.tolist()],
            "followers": world.followers_count.tolist(),
            "following": world.following_count.tolist(),
        },
    }
    path.write_text(json.dumps(document))


def tier_summary(world: World) -> dict[str, dict[str, float]]:
    summary = {}
    for code, name in [*((c, s.tier.value) for c, s in enumerate(TIERS)), (len(TIERS), "star")]:
        members = world.tiers == code
        if not members.any():
            continue
        followers = world.followers_count[members]
        summary[name] = {
            "users": int(members.sum()),
            "followers_median": float(np.median(followers)),
            "followers_max": int(followers.max()),
            "following_mean": float(world.following_count[members].mean()),
            "posts": int(np.isin(world.post_author, np.flatnonzero(members)).sum()),
        }
    return summary


def _numeric_ids(ids: Sequence[str]) -> np.ndarray:
    return np.array([id_key(i) for i in ids], dtype=np.int64)


def _user(world: World, index: int) -> User:
    name = world.usernames[index]
    return User(
        id=UserId(world.user_ids[index]),
        username=name,
        display_name=name.replace("_", " ").title(),
        bio="",
        created_at=datetime.fromtimestamp(int(world.joined_ms[index]) / 1000, tz=UTC),
    )


def _post(world: World, index: int, author: int, post_id: str, plan: Sequence[Delivery]) -> Post:
    return Post(
        id=PostId(post_id),
        author_id=UserId(world.user_ids[author]),
        body=_BODIES[index % len(_BODIES)],
        created_at=datetime.fromtimestamp(int(world.post_ms[index]) / 1000, tz=UTC),
        delivery=plan[author],
    )


def _user_rows(
    world: World, user_ids: np.ndarray, password_hash: str
) -> Iterator[tuple[int, str, str, str, int, str]]:
    for index, (uid, joined) in enumerate(zip(user_ids.tolist(), world.joined_ms.tolist(), strict=True)):
        name = world.usernames[index]
        yield uid, name, name.replace("_", " ").title(), "", joined, password_hash


def _post_rows(
    world: World, user_ids: np.ndarray, plan: Sequence[Delivery]
) -> Iterator[tuple[int, int, str, int, str]]:
    authors, author_ids = world.post_author.tolist(), user_ids[world.post_author].tolist()
    for index, (post_id, at) in enumerate(zip(world.post_ids, world.post_ms.tolist(), strict=True)):
        yield (
            id_key(post_id),
            author_ids[index],
            _BODIES[index % len(_BODIES)],
            at,
            plan[authors[index]].value,
        )


def _chunks(indexes: range) -> Iterator[range]:
    for start in range(0, len(indexes), STORE_BATCH):
        yield indexes[start : start + STORE_BATCH]


def _lap(started: float) -> float:
    return time.perf_counter() - started
