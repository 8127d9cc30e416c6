"""The Redis backends beyond the contract: Redis is only a cache (flushes, outages and
stale copies change no answer), hot timelines under concurrent fills, pub/sub across
connections, and the TLS and AUTH settings."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio.connection import SSLConnection
from redis.exceptions import AuthenticationError

from murmur.domain import IdGenerator, Post, PostId, RetryableStoreError, TimelineEntry, UserId
from murmur.metrics import store_operation_counts
from murmur.settings import RedisSettings, Settings
from murmur.storage.base import OutboxMessage, TimelineStore
from murmur.storage.cached import CachedPostStore
from murmur.storage.factory import open_backends
from murmur.storage.redis import (
    RedisCache,
    RedisConnection,
    RedisEventBus,
    RedisHotTimelines,
    connection,
    timelines,
)
from murmur.storage.redis.connection import client_options
from murmur.storage.sqlite import SqliteDatabase, SqlitePostStore, SqliteTimelineStore
from tests.servers import RedisServer
from tests.servers._process import ServerProcess, free_port, spawn
from tests.servers.servers import NO_PERSISTENCE
from tests.support.polling import until

ids = IdGenerator(node=5)


def new_id(at: dt.datetime | None = None) -> str:
    return ids.next_id(at)


def entries(n: int, author: str | None = None) -> list[TimelineEntry]:
    """n entries, oldest first."""
    return [TimelineEntry(PostId(new_id()), UserId(author or new_id())) for _ in range(n)]


def newest(some: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    return sorted(set(some), key=lambda e: int(e.post_id), reverse=True)


def page(window: list[TimelineEntry], before: PostId | None, limit: int) -> list[TimelineEntry]:
    """A page of a timeline's window, as a reader paging by cursor sees it."""
    return [e for e in window if before is None or int(e.post_id) < int(before)][:limit]


async def eventually(
    check: Callable[[], Awaitable[object] | object], expected: object = True, *, within: float = 10.0
) -> None:
    """Poll until check() returns expected; fail after `within` seconds."""

    async def value() -> object:
        got = check()
        return await got if inspect.isawaitable(got) else got

    await until(value, lambda got: got == expected, within=within, what=f"{expected!r}")


class PrivateRedis:
    """A redis-server of this test's own, to flush, stop, freeze and restart."""

    def __init__(self, workdir: Path, *args: str, tls: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        # with TLS, plain TCP is off: a client without TLS cannot talk to it
        self.listen = ["--port", "0", "--tls-port", str(self.port)] if tls else ["--port", str(self.port)]
        self.args = args
        self.process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            "redis-server",
            *self.listen,
            "--bind",
            "127.0.0.1",
            *NO_PERSISTENCE,
            "--dir",
            str(self.workdir),
        ]
        self.process = spawn("redis", [*argv, *self.args], self.workdir)
        deadline = time.monotonic() + 10
        while not self._accepts():
            assert self.process.popen.poll() is None, self.process.log_path.read_text()
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.popen.pid, sig)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.signal(signal.SIGCONT)  # in case a test froze it
        server.stop()


# How long a connection of the `conn` fixture leaves Redis alone after a failure. A test that
# waits it out sleeps past it: real time must pass, and nothing public shows the pause's end
# without asking Redis, which would do the owed deletes the test looks at first.
PAUSE_SECONDS = 0.2


async def pause_over() -> None:
    """Called after the last failure: the pause it started (PAUSE_SECONDS) is over on return."""
    await asyncio.sleep(PAUSE_SECONDS + 0.05)  # + 0.05: a timer may fire a hair early


async def open_conn(url: str, *, prefix: str = "murmur:", pause_seconds: float = 1.0) -> RedisConnection:
    return await RedisConnection.open(RedisSettings(url=url), prefix=prefix, pause_seconds=pause_seconds)


@pytest.fixture
async def conn(private_redis: PrivateRedis) -> AsyncIterator[RedisConnection]:
    conn = await open_conn(private_redis.url, pause_seconds=PAUSE_SECONDS)
    yield conn
    await conn.close()


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(tmp_path / "durable.db")
    yield db
    await db.close()


@pytest.fixture
def durable(sqlite: SqliteDatabase) -> SqliteTimelineStore:
    return SqliteTimelineStore(db=sqlite, cap=5)


@pytest.fixture
def hot(durable: SqliteTimelineStore, conn: RedisConnection) -> RedisHotTimelines:
    return RedisHotTimelines(inner=durable, conn=conn)


def set_key(conn: RedisConnection, owner: str) -> str:
    return conn.key(timelines.KEY_NAME + owner)


async def is_hot(conn: RedisConnection, owner: str) -> bool:
    return await conn.client.zscore(set_key(conn, owner), "!") is not None


# --- Redis is only a cache ----------------------------------------------------------------


async def test_flushall_midway_changes_no_cached_answer(
    conn: RedisConnection, sqlite: SqliteDatabase
) -> None:
    posts = CachedPostStore(inner=SqlitePostStore(db=sqlite), cache=RedisCache(conn=conn))
    author = UserId(new_id())
    created = []
    for _ in range(3):
        post_id = PostId(new_id())
        post = Post(post_id, author, f"post {post_id}", dt.datetime.now(dt.UTC).replace(microsecond=0))
        await posts.create_post(post=post, outbox=OutboxMessage(id=post_id, body=b"x"))
        created.append(post.id)

    first = await posts.posts_by_id(ids=created)
    assert await conn.client.exists(*(conn.key(f"post:{p}") for p in created)) == 3  # the cache holds them
    await conn.client.flushall()
    assert await posts.posts_by_id(ids=created) == first
    assert await posts.posts_by_id(ids=created) == first  # refilled, then from the cache again


async def test_flushall_midway_changes_no_timeline_answer(
    conn: RedisConnection, hot: RedisHotTimelines
) -> None:
    owner, other = UserId(new_id()), UserId(new_id())
    posts = entries(4)
    await hot.backfill(owner=owner, entries=posts[:3], complete_above=None)
    before = await hot.timeline(owner=owner, before=None, limit=10)
    assert await is_hot(conn, owner)

    await conn.client.flushall()
    assert await hot.timeline(owner=owner, before=None, limit=10) == before
    assert await is_hot(conn, owner)  # rebuilt from the durable store by that read

    await conn.client.flushall()
    await hot.add_to_timelines(owners=[owner, other], entry=posts[3])
    assert not await conn.client.exists(set_key(conn, owner))  # no partial set from a push
    assert await hot.timeline(owner=owner, before=None, limit=10) == posts[::-1][:5]
    assert await hot.timeline(owner=other, before=None, limit=10) == [posts[3]]


OPERATIONS = ["push"] * 3 + ["read"] * 2 + ["backfill", "remove", "unfollow", "rebuild", "refill", "flush"]


@pytest.mark.parametrize(
    ("keys_per_call", "trim_sets_every"),
    [(1000, 8), (2, 3)],
    ids=["one-call-per-push", "split-calls-frequent-trims"],
)
async def test_hot_timelines_answer_as_the_durable_store_through_flushes(
    conn: RedisConnection,
    private_redis: PrivateRedis,
    sqlite: SqliteDatabase,
    keys_per_call: int,
    trim_sets_every: int,
) -> None:
    """Random operations, reads warming timelines and FLUSHALLs between them: every answer
    is a page of the window a plain durable store shows given the same operations (hot sets
    hold only the window), and shortfalls and refills answer alike."""
    cap = 5
    hot: TimelineStore = RedisHotTimelines(
        inner=SqliteTimelineStore(db=sqlite, cap=cap),
        conn=conn,
        keys_per_call=keys_per_call,
        trim_sets_every=trim_sets_every,
    )
    reference_db = await SqliteDatabase.open(private_redis.workdir / "reference.db")
    reference = SqliteTimelineStore(db=reference_db, cap=cap)
    stores = (hot, reference)
    rng = random.Random(7)
    users = [UserId(new_id()) for _ in range(6)]
    added: list[TimelineEntry] = []
    sources: dict[UserId, set[TimelineEntry]] = {user: set() for user in users}  # what refills draw on
    kept_past_the_cap = 0
    try:
        for step in range(400):
            owners = rng.sample(users, rng.randint(1, 4))
            owner = owners[0]
            match rng.choice(OPERATIONS):
                case "push":
                    entry = entries(1, rng.choice(users))[0]
                    added.append(entry)
                    for store in stores:
                        await store.add_to_timelines(owners=owners, entry=entry)
                    for someone in owners:
                        sources[someone].add(entry)
                case "backfill" if added:
                    sent = newest(rng.sample(added, min(len(added), 4)))
                    complete_above = sent[-1].post_id if rng.random() < 0.5 else None
                    for store in stores:
                        await store.backfill(owner=owner, entries=sent, complete_above=complete_above)
                    sources[owner].update(sent)
                case "remove" if added:
                    post = rng.choice(added)
                    held = [await s.remove_post(owners=owners, post_id=post.post_id) for s in stores]
                    assert sorted(held[0]) == sorted(held[1]), step
                    for someone in owners:
                        sources[someone].discard(post)
                case "unfollow":
                    author = rng.choice(users)
                    removed = [await s.remove_author(owner=owner, author_id=author) for s in stores]
                    assert removed[0] == removed[1], step
                    sources[owner] = {e for e in sources[owner] if e.author_id != author}
                case "rebuild":
                    for store in stores:
                        await store.rebuild(owner=owner, entries=newest(sources[owner])[:cap])
                case "refill":
                    shortfalls = await hot.shortfall(owners=users)
                    assert shortfalls == await reference.shortfall(owners=users), step
                    for short_owner, short in shortfalls.items():
                        older = [e for e in newest(sources[short_owner]) if int(e.post_id) < int(short.below)]
                        done = [
                            await s.refill(
                                owner=short_owner,
                                entries=older[: short.missing],
                                below=short.below,
                                wanted=short.missing,
                            )
                            for s in stores
                        ]
                        assert done[0] == done[1], step
                case "flush":
                    await conn.client.flushall()
                case _:
                    cursor = None if rng.random() < 0.5 or not added else rng.choice(added).post_id
                    limit = rng.randint(1, 6)
                    for someone in owners:
                        window = await reference.timeline(owner=someone, before=None, limit=cap)
                        got = await hot.timeline(owner=someone, before=cursor, limit=limit)
                        assert got == page(window, cursor, limit), step
            assert await hot.timeline_sizes(owners=users) == await reference.timeline_sizes(owners=users)
            assert await hot.shortfall(owners=users) == await reference.shortfall(owners=users), step
            sizes = [await conn.client.zcard(set_key(conn, user)) for user in users]
            kept_past_the_cap += sum(size > cap + 1 for size in sizes)
        for owner in users:
            expected = await reference.timeline(owner=owner, before=None, limit=10)
            assert await hot.timeline(owner=owner, before=None, limit=10) == expected
        assert sum([await is_hot(conn, owner) for owner in users]) >= 1  # the test did read hot sets
        assert kept_past_the_cap > 0  # and sets holding entries past the cap, not yet trimmed
    finally:
        await reference_db.close()


# --- an unreachable or frozen Redis -------------------------------------------------------


async def test_an_unreachable_redis_is_a_miss_and_timelines_answer_from_the_durable_store(
    durable: SqliteTimelineStore,
) -> None:
    conn = await open_conn(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens: open still succeeds
    try:
        before = store_operation_counts()
        cache = RedisCache(conn=conn)
        await cache.set_many(items={"k": b"v"}, ttl_seconds=60)
        assert await cache.get_many(keys=["k"]) == {}
        await cache.delete(keys=["k"])

        hot = RedisHotTimelines(inner=durable, conn=conn)
        owner = UserId(new_id())
        posts = entries(3)
        await hot.backfill(owner=owner, entries=posts[:2], complete_above=None)
        await hot.add_to_timelines(owners=[owner], entry=posts[2])
        assert await hot.timeline(owner=owner, before=None, limit=10) == posts[::-1]
        assert await hot.timeline(owner=owner, before=posts[2].post_id, limit=1) == [posts[1]]
        assert await hot.remove_post(owners=[owner], post_id=posts[0].post_id) == [owner]
        assert await hot.timeline_sizes(owners=[owner]) == {owner: 2}

        bus = RedisEventBus(conn=conn)
        await bus.publish(channel="c", message=b"lost")  # fire and forget, even now
        with pytest.raises(RetryableStoreError):
            async with bus.subscribe(channels=["c"]):
                pass
        errors = store_operation_counts()
        assert errors.get(("cache", "get_many"), 0) >= before.get(("cache", "get_many"), 0) + 1
    finally:
        await conn.close()


async def test_an_outage_leaves_no_stale_copy_behind(
    private_redis: PrivateRedis, conn: RedisConnection, hot: RedisHotTimelines
) -> None:
    """Writes and deletes that cannot reach a frozen Redis are owed: once it answers
    again, the copies they left wrong are gone before anything is read."""
    cache = RedisCache(conn=conn)
    await cache.set_many(items={"user:1": b"old name"}, ttl_seconds=60)
    owner = UserId(new_id())
    posts = entries(3)
    await hot.backfill(owner=owner, entries=posts[:2], complete_above=None)
    assert await hot.timeline(owner=owner, before=None, limit=10) == posts[1::-1]  # hot now

    private_redis.signal(signal.SIGSTOP)
    started = time.monotonic()
    await hot.add_to_timelines(owners=[owner], entry=posts[2])  # durable; Redis times out
    await cache.delete(keys=["user:1"])  # Redis paused: owed
    assert await cache.get_many(keys=["user:1"]) == {}
    assert await hot.timeline(owner=owner, before=None, limit=10) == posts[::-1]
    assert time.monotonic() - started < 5  # one timeout, not one per call

    private_redis.signal(signal.SIGCONT)
    await pause_over()
    assert await conn.client.get(conn.key("user:1")) == b"old name"  # the stale copies are still there...
    assert await cache.get_many(keys=["user:1"]) == {}  # ...until anything is asked
    assert await hot.timeline(owner=owner, before=None, limit=10) == posts[::-1]
    assert await is_hot(conn, owner)


async def test_too_many_owed_deletes_delete_everything_under_the_prefix(
    conn: RedisConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "OWED_KEYS_LIMIT", 3)
    cache = RedisCache(conn=conn)
    await cache.set_many(items={f"k{i}": b"v" for i in range(10)}, ttl_seconds=60)
    await conn.client.set("elsewhere:k", b"not ours")
    conn.owe_deletes(conn.key(f"k{i}") for i in range(4))  # one past the limit

    assert await cache.get_many(keys=["k9"]) == {}
    assert await conn.client.keys(conn.key("*")) == []
    assert await conn.client.get("elsewhere:k") == b"not ours"


# --- hot timelines under concurrency -------------------------------------------------------


class HeldReads:
    """A durable store whose timeline reads take their snapshot, then wait to be released:
    the window in which a fill races with writes."""

    def __init__(self, inner: TimelineStore) -> None:
        self.inner = inner
        self.cap = inner.cap
        self.snapshot_taken = asyncio.Event()
        self.release = asyncio.Event()

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        snapshot = await self.inner.timeline(owner=owner, before=before, limit=limit)
        self.snapshot_taken.set()
        await self.release.wait()
        return snapshot

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_push_landing_during_a_fill_is_kept(
    conn: RedisConnection, durable: SqliteTimelineStore
) -> None:
    held = HeldReads(durable)
    hot = RedisHotTimelines(inner=held, conn=conn)  # type: ignore[arg-type]  # a TimelineStore by delegation
    writer = RedisHotTimelines(inner=durable, conn=conn)
    owner = UserId(new_id())
    old, new = entries(2)
    await durable.backfill(owner=owner, entries=[old], complete_above=None)

    read = asyncio.create_task(hot.timeline(owner=owner, before=None, limit=10))
    await held.snapshot_taken.wait()  # the fill read the durable store: it lacks `new`
    await writer.add_to_timelines(owners=[owner], entry=new)
    held.release.set()
    assert await read == [old]  # the fill's own answer is its snapshot

    assert await is_hot(conn, owner)
    assert await writer.timeline(owner=owner, before=None, limit=10) == [
        new,
        old,
    ]  # from Redis, with the push


async def test_a_removal_during_a_fill_cancels_it(
    conn: RedisConnection, durable: SqliteTimelineStore
) -> None:
    held = HeldReads(durable)
    hot = RedisHotTimelines(inner=held, conn=conn)  # type: ignore[arg-type]
    writer = RedisHotTimelines(inner=durable, conn=conn)
    owner = UserId(new_id())
    kept, removed = entries(2)
    await durable.backfill(owner=owner, entries=[kept, removed], complete_above=None)

    read = asyncio.create_task(hot.timeline(owner=owner, before=None, limit=10))
    await held.snapshot_taken.wait()
    assert await writer.remove_post(owners=[owner], post_id=removed.post_id) == [owner]
    held.release.set()
    await read

    assert not await conn.client.exists(set_key(conn, owner))  # the fill did not complete
    assert await writer.timeline(owner=owner, before=None, limit=10) == [kept]


async def test_a_late_push_does_not_bring_back_a_post_removed_meanwhile(
    conn: RedisConnection, durable: SqliteTimelineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push's durable write ends, then (before its Redis step) the post is removed and
    the timeline refilled: the push must not land in the refilled set."""
    hot = RedisHotTimelines(inner=durable, conn=conn)
    owner = UserId(new_id())
    kept, late = entries(2)
    await hot.backfill(owner=owner, entries=[kept], complete_above=None)

    redis_time = conn.client.time
    asked, go_on = asyncio.Event(), asyncio.Event()

    async def delayed_time() -> tuple[int, int]:
        now = await redis_time()
        asked.set()
        await go_on.wait()
        return now

    monkeypatch.setattr(conn.client, "time", delayed_time)
    push = asyncio.create_task(hot.add_to_timelines(owners=[owner], entry=late))
    await asked.wait()  # durable write done, Redis step not yet
    monkeypatch.setattr(conn.client, "time", redis_time)
    assert await hot.remove_post(owners=[owner], post_id=late.post_id) == [owner]
    assert await hot.timeline(owner=owner, before=None, limit=10) == [kept]  # refilled
    go_on.set()
    await push

    assert await hot.timeline(owner=owner, before=None, limit=10) == [kept]
    assert await durable.timeline(owner=owner, before=None, limit=10) == [kept]


async def test_hot_sets_are_capped_ordered_and_keep_empty_timelines(
    conn: RedisConnection, durable: SqliteTimelineStore
) -> None:
    hot = RedisHotTimelines(inner=durable, conn=conn, trim_sets_every=1)  # every push trims
    empty, full = UserId(new_id()), UserId(new_id())
    assert await hot.timeline(owner=empty, before=None, limit=10) == []
    assert await is_hot(conn, empty)  # an empty timeline is hot too: the next read asks Redis alone
    seconds, micros = await conn.client.time()
    score = await conn.client.zscore(set_key(conn, empty), "!")
    assert score is not None and await conn.client.zrank(set_key(conn, empty), "!") == 0
    began, odd = divmod(-int(score) - 2**53, 2)  # the marker's score encodes when the fill began, in µs
    assert odd == 0 and 0 <= seconds * 1_000_000 + micros - began < 10_000_000
    assert await hot.timeline(owner=empty, before=None, limit=10) == []

    posts = entries(8)
    await hot.timeline(owner=full, before=None, limit=1)
    for entry in random.Random(1).sample(posts, len(posts)):
        await hot.add_to_timelines(owners=[full, full], entry=entry)
    key = set_key(conn, full)
    assert await conn.client.zcard(key) == 5 + 1  # the cap, and the marker
    assert 0 < await conn.client.ttl(key) <= 24 * 3600
    assert await hot.timeline(owner=full, before=None, limit=10) == posts[::-1][:5]


async def test_entries_a_push_left_past_the_cap_are_never_read(
    conn: RedisConnection, durable: SqliteTimelineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pushes trim a set only now and then; until one does, the entries past the cap are
    not part of the timeline, from the top or by cursor."""
    # trim offset 0: the first set of a call is trimmed only when (1 + 0) % trim_sets_every == 0
    monkeypatch.setattr(timelines, "randrange", lambda every: 0)
    hot = RedisHotTimelines(inner=durable, conn=conn, trim_sets_every=100)
    owner = UserId(new_id())
    await hot.timeline(owner=owner, before=None, limit=1)  # hot
    posts = entries(8)
    for entry in posts:
        await hot.add_to_timelines(owners=[owner], entry=entry)

    assert await conn.client.zcard(set_key(conn, owner)) == 8 + 1  # none trimmed yet
    window = posts[::-1][:5]
    assert await hot.timeline(owner=owner, before=None, limit=10) == window
    assert await hot.timeline(owner=owner, before=window[2].post_id, limit=10) == window[3:]
    assert await hot.timeline(owner=owner, before=window[-1].post_id, limit=10) == []


async def test_a_push_to_many_sets_lands_in_every_hot_one_across_calls(
    conn: RedisConnection, durable: SqliteTimelineStore
) -> None:
    hot = RedisHotTimelines(inner=durable, conn=conn, keys_per_call=7, calls_in_flight=3)
    crowd = [UserId(new_id()) for _ in range(60)]
    warm = set(crowd[::4])
    for owner in warm:
        await hot.timeline(owner=owner, before=None, limit=1)
    await conn.client.script_flush()  # Redis lost its scripts (a restart, a failover): they load again

    entry = entries(1)[0]
    await hot.add_to_timelines(owners=crowd, entry=entry)
    exists = [await conn.client.exists(set_key(conn, owner)) for owner in crowd]
    assert [owner for owner, there in zip(crowd, exists, strict=True) if there] == [
        owner for owner in crowd if owner in warm
    ]  # no partial set for a timeline nobody read
    for owner in crowd:
        assert await hot.timeline(owner=owner, before=None, limit=10) == [entry]


async def test_a_push_that_fails_in_redis_owes_its_sets_a_drop(
    conn: RedisConnection, durable: SqliteTimelineStore
) -> None:
    """One call of a push split in two fails (a key holding the wrong type): every set the
    push reached is dropped before Redis answers again, so none is left without the entry."""
    hot = RedisHotTimelines(inner=durable, conn=conn, keys_per_call=2)
    a, b, c = (UserId(new_id()) for _ in range(3))
    for owner in (a, b, c):
        await hot.timeline(owner=owner, before=None, limit=1)  # hot, empty
    await conn.client.set(set_key(conn, c), "not a sorted set")

    entry = entries(1)[0]
    await hot.add_to_timelines(owners=[a, c, b], entry=entry)  # calls [a, c] (fails) and [b]
    await pause_over()
    assert await hot.timeline(owner=b, before=None, limit=10) == [entry]  # owed drops first, then a fill
    assert not await conn.client.exists(set_key(conn, a), set_key(conn, c))
    for owner in (a, c):
        assert await hot.timeline(owner=owner, before=None, limit=10) == [entry]


async def test_additions_land_in_hot_sets_while_removals_and_rebuilds_drop_them(
    conn: RedisConnection, hot: RedisHotTimelines
) -> None:
    owner = UserId(new_id())
    key = set_key(conn, owner)
    truth = entries(8)
    await hot.rebuild(owner=owner, entries=newest(truth)[:5])
    assert await hot.timeline(owner=owner, before=None, limit=10) == newest(truth)[:5]
    assert await is_hot(conn, owner)

    await hot.remove_post(owners=[owner], post_id=truth[-1].post_id)
    truth.pop()
    assert not await conn.client.exists(key)
    assert await hot.timeline(owner=owner, before=None, limit=10) == newest(truth)[:4]  # filled again
    short = (await hot.shortfall(owners=[owner]))[owner]
    assert await hot.refill(owner=owner, entries=newest(truth)[4:5], below=short.below, wanted=1)
    assert await is_hot(conn, owner)  # the refill landed in the set
    assert await conn.client.zcard(key) == 5 + 1
    assert await hot.timeline(owner=owner, before=None, limit=10) == newest(truth)[:5]

    # a refill whose floor moved meanwhile: the durable store may or may not keep its entries
    assert not await hot.refill(owner=owner, entries=newest(truth)[5:6], below=short.below, wanted=1)
    assert not await conn.client.exists(key)

    await hot.timeline(owner=owner, before=None, limit=10)
    later = entries(1)[0]
    await hot.backfill(owner=owner, entries=[later], complete_above=None)
    assert await conn.client.zscore(key, f"{later.post_id}:{later.author_id}") is not None
    assert await hot.timeline(owner=owner, before=None, limit=10) == newest([*truth, later])[:5]

    await hot.rebuild(owner=owner, entries=newest([*truth, later])[:5])
    assert not await conn.client.exists(key)
    assert await hot.timeline(owner=owner, before=None, limit=10) == newest([*truth, later])[:5]


# --- live events ----------------------------------------------------------------------------


async def test_a_publish_reaches_a_subscriber_on_another_connection(redis_server: RedisServer) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    pod_a, pod_b = (
        await open_conn(redis_server.url, prefix=prefix),
        await open_conn(redis_server.url, prefix=prefix),
    )
    try:
        async with RedisEventBus(conn=pod_b).subscribe(channels=["author:1"]) as subscription:
            await RedisEventBus(conn=pod_a).publish(channel="author:1", message=b"posted")
            async with asyncio.timeout(5):
                assert await anext(aiter(subscription)) == ("author:1", b"posted")
    finally:
        await pod_a.close()
        await pod_b.close()


async def test_a_slow_subscriber_loses_the_oldest_and_never_blocks_the_publisher(
    redis_server: RedisServer,
) -> None:
    conn = await open_conn(redis_server.url, prefix=f"test-{uuid.uuid4().hex}:")
    bus = RedisEventBus(conn=conn, max_pending=3)
    try:
        async with bus.subscribe(channels=["c"]) as subscription:
            async with asyncio.timeout(2):
                for i in range(10):
                    await bus.publish(channel="c", message=bytes([i]))
                await eventually(lambda: subscription.dropped == 7)
            got = [await anext(aiter(subscription)) for _ in range(3)]
            assert got == [("c", b"\x07"), ("c", b"\x08"), ("c", b"\t")]
    finally:
        await conn.close()


async def test_a_subscription_survives_a_redis_restart(
    private_redis: PrivateRedis, conn: RedisConnection
) -> None:
    bus = RedisEventBus(conn=conn)
    async with bus.subscribe(channels=["c"]) as subscription:
        private_redis.stop()
        private_redis.start()  # same port, empty
        async with asyncio.timeout(10):
            channel = conn.key("c")
            # the reader reconnected and subscribed again
            await eventually(lambda: conn.client.pubsub_numsub(channel), [(channel.encode(), 1)])
            await bus.publish(channel="c", message=b"after")
            assert await anext(aiter(subscription)) == ("c", b"after")


# --- settings ---------------------------------------------------------------------------------

# the roles the SQLite file backs when only the cache and live events are Redis's
SQLITE_ROLES = {"users", "posts", "graph", "timelines", "queue", "bulk_queue", "ledger"}


async def test_the_factory_builds_the_redis_cache_and_bus(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, stores={"cache": "redis", "bus": "redis"}, redis={"url": redis_server.url}
    )
    backends = await open_backends(settings)
    try:
        assert isinstance(backends.cache, RedisCache)
        assert isinstance(backends.bus, RedisEventBus)
        # by role, never by class
        assert await backends.ping() == {role: True for role in SQLITE_ROLES | {"cache", "bus"}}
    finally:
        await backends.close()


# --- TLS and AUTH ---------------------------------------------------------------------------


def test_tls_and_the_auth_token_reach_the_connection_pool() -> None:
    token = SecretStr("s3cret-token")
    plain = client_options(RedisSettings(url="redis://cache.example:6380/3"))
    assert (plain["host"], plain["port"], plain["db"]) == ("cache.example", 6380, 3)
    assert "connection_class" not in plain and "password" not in plain

    tls = client_options(RedisSettings(url="redis://cache.example:6380/3", tls=True, auth_token=token))
    assert tls["connection_class"] is SSLConnection
    assert tls["password"] == "s3cret-token"
    # rediss:// is TLS without the setting; the token wins over a password in the URL
    url_tls = client_options(RedisSettings(url="rediss://:in-url@cache.example/0", auth_token=token))
    assert url_tls["connection_class"] is SSLConnection
    assert url_tls["password"] == "s3cret-token"


async def test_the_opened_clients_carry_the_settings() -> None:
    settings = RedisSettings(
        url=f"redis://127.0.0.1:{free_port()}/2", tls=True, auth_token=SecretStr("s3cret-token")
    )
    conn = await RedisConnection.open(settings)
    try:
        for client in (conn.client, conn.pubsub()):
            pool = client.connection_pool
            assert pool.connection_class is SSLConnection
            assert pool.connection_kwargs["password"] == "s3cret-token"
            assert pool.connection_kwargs["db"] == 2
    finally:
        await conn.close()


async def test_auth_token_against_a_server_that_requires_it(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path, "--requirepass", "s3cret-token")
    server.start()
    try:
        conn = await RedisConnection.open(RedisSettings(url=server.url, auth_token=SecretStr("s3cret-token")))
        cache = RedisCache(conn=conn)
        await cache.set_many(items={"k": b"v"}, ttl_seconds=60)
        assert await cache.get_many(keys=["k"]) == {"k": b"v"}
        await conn.close()
        with pytest.raises(AuthenticationError):  # a wrong token is a deployment error: it fails fast
            await RedisConnection.open(RedisSettings(url=server.url, auth_token=SecretStr("wrong")))
    finally:
        server.stop()


async def test_tls_against_a_server_that_speaks_only_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    tls_files = ("--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-auth-clients", "no")
    server = PrivateRedis(tmp_path, *tls_files, tls=True)
    server.start()
    try:
        url = f"{server.url}?ssl_ca_certs={cert}"
        conn = await RedisConnection.open(RedisSettings(url=url, tls=True))
        await conn.ping()
        assert await RedisCache(conn=conn).get_many(keys=["k"]) == {}
        await conn.close()
        plain = await RedisConnection.open(RedisSettings(url=url.partition("?")[0]))
        with pytest.raises(Exception):  # noqa: B017  # plain TCP to a TLS port: any failure will do
            await plain.ping()
        await plain.close()
    finally:
        server.stop()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "murmur-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_readiness_shows_redis_down_as_degraded_not_unready(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    """Redis is optional: without it the API still answers from the stores, so /readyz stays
    200 and names it as degraded; a frozen Redis cannot hang the probe either."""
    import httpx

    from api.app import create_app
    from murmur.platform import open_platform

    settings = Settings(
        data_dir=tmp_path / "data",
        seed={"enabled": False},
        workers={"in_process": 0},
        stores={"cache": "redis", "bus": "redis"},
        redis={"url": private_redis.url},
    )
    async with open_platform(settings) as platform:
        app = create_app(settings, platform=platform)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://murmur") as http,
        ):
            up = await http.get("/readyz")
            assert (up.status_code, up.json()["stores"], up.json()["degraded"]) == (
                200,
                {role: "up" for role in SQLITE_ROLES | {"cache", "bus"}},
                [],
            )
            for trouble in (signal.SIGSTOP, None):  # frozen, then gone
                if trouble is None:
                    private_redis.signal(signal.SIGCONT)
                    private_redis.stop()
                else:
                    private_redis.signal(trouble)
                started = time.monotonic()
                down = await http.get("/readyz")
                assert time.monotonic() - started < 5
                assert (
                    down.status_code,
                    down.json()["stores"]["cache"],
                    down.json()["degraded"],
                ) == (
                    200,
                    "down",
                    ["cache", "bus"],
                )
                # and the API answers from the stores meanwhile
                answer = await http.post("/graphql", json={"query": '{ user(username: "nobody") { id } }'})
                assert answer.json() == {"data": {"user": None}}
