"""What the SQLite backend promises beyond the contract: its file, transactions, concurrency and errors."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from murmur.domain import (
    Delivery,
    IdGenerator,
    PermanentStoreError,
    Post,
    PostId,
    RetryableStoreError,
    UserId,
    id_time,
)
from murmur.storage.base import OutboxMessage, Outgoing, Shortfall
from murmur.storage.sqlite import (
    SqliteDatabase,
    SqliteFollowGraph,
    SqlitePostStore,
    SqliteQueue,
    SqliteTimelineStore,
    SqliteUserStore,
)
from murmur.storage.sqlite import posts as sqlite_posts
from murmur.storage.sqlite.database import PAGE_SIZE
from murmur.storage.sqlite.posts import RECENT_POSTS_SQL
from murmur.storage.sqlite.schema import SCHEMA_VERSION

ids = IdGenerator(node=5)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "murmur.db"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[SqliteDatabase]:
    database = await SqliteDatabase.open(path)
    yield database
    await database.close()


async def test_the_file_is_wal_with_small_pages_and_versioned(db: SqliteDatabase) -> None:
    assert await db.fetchone("PRAGMA journal_mode") == ("wal",)
    assert await db.fetchone("PRAGMA page_size") == (PAGE_SIZE,)
    assert await db.fetchone("PRAGMA user_version") == (SCHEMA_VERSION,)
    await db.ping()


async def test_reopening_keeps_the_data(path: Path) -> None:
    first = await SqliteDatabase.open(path)
    graph = SqliteFollowGraph(db=first)
    a, b = UserId(ids.next_id()), UserId(ids.next_id())
    await graph.follow(follower=a, followee=b)
    await first.close()

    again = await SqliteDatabase.open(path)
    try:
        assert await SqliteFollowGraph(db=again).follows(follower=a, followees=[b]) == {b}
    finally:
        await again.close()


async def test_a_file_from_a_newer_schema_is_refused(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(PermanentStoreError, match="schema version"):
        await SqliteDatabase.open(path)


async def test_reads_go_on_while_a_write_is_open_and_see_the_last_commit(db: SqliteDatabase) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_write() -> None:
        async with db.write() as tx:
            await tx.execute("INSERT INTO follow_counts (user_id, followers) VALUES (1, 7)")
            entered.set()
            await release.wait()

    writer = asyncio.create_task(slow_write())
    await entered.wait()
    reads = [db.fetchone("SELECT count(*) FROM follow_counts") for _ in range(6)]
    assert await asyncio.wait_for(asyncio.gather(*reads), timeout=2) == [(0,)] * 6
    release.set()
    await writer
    assert await db.fetchone("SELECT followers FROM follow_counts WHERE user_id = 1") == (7,)


async def test_a_failed_write_leaves_nothing_behind(db: SqliteDatabase) -> None:
    with pytest.raises(ZeroDivisionError):
        async with db.write() as tx:
            await tx.execute("INSERT INTO follow_counts (user_id) VALUES (1)")
            _ = 1 / 0
    async with db.write() as tx:
        await tx.execute("INSERT INTO follow_counts (user_id) VALUES (2)")
    assert await db.fetchall("SELECT user_id FROM follow_counts") == [(2,)]


async def test_a_cancelled_write_is_rolled_back_and_the_writer_freed(db: SqliteDatabase) -> None:
    entered = asyncio.Event()

    async def stuck_write() -> None:
        async with db.write() as tx:
            await tx.execute("INSERT INTO follow_counts (user_id) VALUES (1)")
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck_write())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(2):
        async with db.write() as tx:
            await tx.execute("INSERT INTO follow_counts (user_id) VALUES (2)")
    assert await db.fetchall("SELECT user_id FROM follow_counts") == [(2,)]


@pytest.mark.parametrize("turns", range(8))
async def test_a_write_cancelled_at_any_point_leaves_the_writer_usable(
    db: SqliteDatabase, turns: int
) -> None:
    """Cancelled after `turns` turns of the loop: at 1 it is waiting on its BEGIN, which
    still runs on the connection's thread and must be rolled back like any other step."""

    async def write_one() -> None:
        async with db.write() as tx:
            await tx.execute("INSERT INTO follow_counts (user_id) VALUES (1)")

    task = asyncio.create_task(write_one())
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with db.write() as tx:
        await tx.execute("INSERT INTO follow_counts (user_id) VALUES (2)")
    assert (2,) in await db.fetchall("SELECT user_id FROM follow_counts")


async def test_concurrent_writers_are_serialised(db: SqliteDatabase) -> None:
    graph = SqliteFollowGraph(db=db)
    star = UserId(ids.next_id())
    fans = [UserId(ids.next_id()) for _ in range(60)]
    await asyncio.gather(*(graph.follow(follower=fan, followee=star) for fan in fans))
    await asyncio.gather(*(graph.unfollow(follower=fan, followee=star) for fan in fans[:20]))

    counts = await graph.follow_counts(user_ids=[star])
    assert counts[star].followers == 40
    assert set((await graph.followers(user_id=star, after=None, limit=100)).items) == set(fans[20:])


async def test_a_constraint_violation_is_a_permanent_store_error(db: SqliteDatabase) -> None:
    with pytest.raises(PermanentStoreError):
        async with db.write() as tx:
            await tx.execute("INSERT INTO follow_counts (user_id) VALUES (1)")
            await tx.execute("INSERT INTO follow_counts (user_id) VALUES (1)")


async def test_a_malformed_id_in_a_write_is_a_permanent_store_error(db: SqliteDatabase) -> None:
    with pytest.raises(PermanentStoreError):
        await SqliteFollowGraph(db=db).follow(follower=UserId("x1"), followee=UserId(ids.next_id()))


async def test_another_process_holding_the_write_lock_is_retryable(path: Path) -> None:
    db = await SqliteDatabase.open(path, busy_timeout_seconds=0.1)
    try:
        with sqlite3.connect(path, isolation_level=None) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(RetryableStoreError):
                await SqliteFollowGraph(db=db).follow(
                    follower=UserId(ids.next_id()), followee=UserId(ids.next_id())
                )
            other.execute("ROLLBACK")
    finally:
        await db.close()


async def test_a_receiver_finds_messages_sent_by_another_process(path: Path) -> None:
    here, there = await SqliteDatabase.open(path), await SqliteDatabase.open(path)
    try:
        receiver = SqliteQueue(
            db=here, visibility_timeout_seconds=30, max_receives=3, poll_interval_seconds=0.1
        )
        sender = SqliteQueue(db=there, visibility_timeout_seconds=30, max_receives=3)
        waiting = asyncio.create_task(receiver.receive(max_messages=1, wait_seconds=10))
        await asyncio.sleep(0.05)
        await sender.send(messages=[Outgoing(b"from afar")])
        messages = await asyncio.wait_for(waiting, timeout=1)  # within a poll interval, not the wait
        assert [m.body for m in messages] == [b"from afar"]
    finally:
        await here.close()
        await there.close()


async def test_named_queues_share_a_file_without_mixing(db: SqliteDatabase) -> None:
    fanout = SqliteQueue(db=db, visibility_timeout_seconds=30, max_receives=3)
    other = SqliteQueue(db=db, visibility_timeout_seconds=30, max_receives=3, name="other")
    await fanout.send(messages=[Outgoing(b"fanout")])
    await other.send(messages=[Outgoing(b"other")])
    assert [m.body for m in await other.receive(max_messages=10, wait_seconds=0)] == [b"other"]
    assert (await fanout.depth()).visible == 1


@pytest.mark.parametrize("delivery", [None, *Delivery])
async def test_recent_posts_reads_through_an_author_index(
    db: SqliteDatabase, delivery: Delivery | None
) -> None:
    plan = await db.fetchall(
        f"EXPLAIN QUERY PLAN {RECENT_POSTS_SQL[delivery]}", {"authors": "[1, 2]", "before": 10, "limit": 5}
    )
    details = " | ".join(row[-1] for row in plan)
    expected = "posts_pulled_by_author" if delivery is Delivery.PULLED else "posts_by_author"
    assert f"USING INDEX {expected}" in details or f"USING COVERING INDEX {expected}" in details, details
    assert "SCAN p " not in details and "SCAN q " not in details, details


# What version 1 of the schema created, for the migration test (tables the migration touches).
_V1 = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    " display_name TEXT NOT NULL, bio TEXT NOT NULL, created_at INTEGER NOT NULL, password_hash TEXT NOT NULL)",
    "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body BLOB NOT NULL, saved_at REAL NOT NULL)",
    "CREATE TABLE follow_counts (user_id INTEGER PRIMARY KEY, followers INTEGER NOT NULL DEFAULT 0,"
    " following INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE timelines (owner INTEGER NOT NULL, post_id INTEGER NOT NULL, author_id INTEGER NOT NULL,"
    " PRIMARY KEY (owner, post_id)) WITHOUT ROWID",
    "CREATE TABLE timeline_sizes (owner INTEGER PRIMARY KEY, size INTEGER NOT NULL)",
    "CREATE TABLE queue_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,"
    " visible_at REAL NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0)",
    "INSERT INTO timelines VALUES (1, 100, 9), (1, 90, 9), (1, 80, 9), (2, 95, 9)",
    "INSERT INTO timeline_sizes VALUES (1, 3), (2, 1)",
    "INSERT INTO queue_messages (queue, body, visible_at) VALUES ('fanout', x'01', 0)",
    "INSERT INTO users VALUES (7, 'old', 'Old', '', 0, 'hash')",
    "PRAGMA user_version = 1",
)


async def test_a_version_1_file_is_brought_forward(path: Path) -> None:
    with sqlite3.connect(path) as old:
        for statement in _V1:
            old.execute(statement)
    db = await SqliteDatabase.open(path)
    try:
        assert (await db.fetchone("PRAGMA user_version")) == (SCHEMA_VERSION,)
        # each version-1 timeline was trimmed on every write: exact down to its oldest entry
        assert await db.fetchall("SELECT owner, floor FROM timeline_floors ORDER BY owner") == [
            (1, 80),
            (2, 95),
        ]
        store = SqliteTimelineStore(db=db, cap=3)
        await store.remove_post(owners=[UserId("1")], post_id=PostId("100"))
        assert await store.shortfall(owners=[UserId("1"), UserId("2")]) == {
            UserId("1"): Shortfall(missing=1, below=PostId("80")),
            UserId("2"): Shortfall(missing=2, below=PostId("95")),
        }
        queue = SqliteQueue(db=db, visibility_timeout_seconds=30, max_receives=3)
        (message,) = await queue.receive(max_messages=10, wait_seconds=0)  # a message from before
        assert (message.body, message.sent_at) == (b"\x01", 0.0)
        await queue.send(messages=[Outgoing(b"new", dedup_key="k"), Outgoing(b"again", dedup_key="k")])
        assert [m.body for m in await queue.receive(max_messages=10, wait_seconds=0)] == [b"new"]
        # version 3: users have a token version, 0 until their tokens are first revoked
        users = SqliteUserStore(db=db)
        assert await users.token_version(user_id=UserId("7")) == 0
        assert await users.revoke_tokens(user_id=UserId("7")) == 1
    finally:
        await db.close()


async def test_post_store_keeps_created_at_as_given(db: SqliteDatabase) -> None:
    posts = SqlitePostStore(db=db)
    post_id = PostId(ids.next_id())
    at = datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    post = Post(id=post_id, author_id=UserId(ids.next_id()), body="b", created_at=at)
    await posts.create_post(post=post, outbox=OutboxMessage(id="m", body=b""))
    assert (await posts.posts_by_id(ids=[post_id]))[post_id].created_at == at


@pytest.mark.parametrize(
    ("window_from", "scan_max"),
    [(10**9, 8192), (0, 8192), (0, 16)],
    ids=["per-author", "windows", "windows-then-per-author"],
)
async def test_recent_posts_are_the_same_whichever_way_they_are_found(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch, window_from: int, scan_max: int
) -> None:
    """Readers who follow many authors scan the newest posts in windows; sparse ones fall back
    to the per-author query below the scan. Every way answers what a brute force does."""
    monkeypatch.setattr(sqlite_posts, "WINDOW_FROM", window_from)
    monkeypatch.setattr(sqlite_posts, "WINDOW_SCAN_MAX", scan_max)
    store, rng = SqlitePostStore(db=db), random.Random(5)
    everyone = [UserId(ids.next_id()) for _ in range(40)]
    posts: list[Post] = []
    for _ in range(400):
        author = rng.choice(everyone)
        post_id = PostId(ids.next_id(at=datetime.now(UTC) - timedelta(seconds=rng.randrange(10**6))))
        delivery = rng.choice(list(Delivery))
        post = Post(id=post_id, author_id=author, body="b", created_at=id_time(post_id), delivery=delivery)
        await store.create_post(post=post, outbox=OutboxMessage(id=post_id, body=b""))
        posts.append(post)
    newest_first = sorted(posts, key=lambda p: int(p.id), reverse=True)
    for trial in range(30):
        followed = rng.sample(everyone, rng.choice([1, 3, 20, 40]))
        delivery = rng.choice([None, *Delivery])
        before = rng.choice([None, *(p.id for p in posts)])
        limit = rng.choice([1, 5, 21])
        expected = [
            p
            for p in newest_first
            if p.author_id in followed
            and (delivery is None or p.delivery is delivery)
            and (before is None or int(p.id) < int(before))
        ][:limit]
        # a repeated author repeats nothing, and a malformed id (as a client may send) names no one
        asked = [*followed, followed[0], UserId("0" + followed[0]), UserId("nope")]
        got = await store.recent_posts(author_ids=asked, before=before, limit=limit, delivery=delivery)
        assert got == expected, trial
