"""SqliteQueue beyond the contract: the dedup window as SQS FIFO keeps it (from the first send,
pruned as it goes), the schema step that brings older files to it, and the oldest message's age."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from murmur.storage.base import Outgoing
from murmur.storage.sqlite import SqliteDatabase, SqliteQueue
from murmur.storage.sqlite.schema import SCHEMA_VERSION


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(tmp_path / "queue.db")
    yield db
    await db.close()


def queue_on(db: SqliteDatabase, clock: Clock, **kwargs: float) -> SqliteQueue:
    return SqliteQueue(db=db, visibility_timeout_seconds=30, max_receives=3, clock=clock, **kwargs)


async def bodies(queue: SqliteQueue) -> list[bytes]:
    return [m.body for m in await queue.receive(max_messages=10, wait_seconds=0)]


async def test_after_the_window_a_key_is_accepted_even_while_its_first_message_waits(
    db: SqliteDatabase,
) -> None:
    """As on AWS: nothing may count on a key for longer than the window."""
    clock = Clock()
    queue = queue_on(db, clock, dedup_window_seconds=60)
    await queue.send(messages=[Outgoing(b"first", dedup_key="k")])
    clock.now += 59
    await queue.send(messages=[Outgoing(b"dropped", dedup_key="k")])
    clock.now += 1
    await queue.send(messages=[Outgoing(b"accepted", dedup_key="k")])
    assert await bodies(queue) == [b"first", b"accepted"]


async def test_keys_older_than_the_window_are_pruned(db: SqliteDatabase) -> None:
    clock = Clock()
    queue = queue_on(db, clock)  # the default window, SQS's 5 minutes
    await queue.send(messages=[Outgoing(bytes([i]), dedup_key=f"old:{i}") for i in range(50)])
    clock.now += 300
    await queue.send(messages=[Outgoing(b"new", dedup_key="new")])
    assert await db.fetchall("SELECT dedup_key FROM queue_dedup") == [("new",)]


async def test_keys_are_per_queue(db: SqliteDatabase) -> None:
    clock = Clock()
    express, bulk = (
        queue_on(db, clock),
        SqliteQueue(db=db, name="bulk", visibility_timeout_seconds=30, max_receives=3, clock=clock),
    )
    await express.send(messages=[Outgoing(b"express", dedup_key="k")])
    await bulk.send(messages=[Outgoing(b"bulk", dedup_key="k")])
    assert (await bodies(express), await bodies(bulk)) == ([b"express"], [b"bulk"])


async def test_the_oldest_message_age_counts_waiting_and_in_flight_messages(db: SqliteDatabase) -> None:
    clock = Clock()
    queue = queue_on(db, clock)
    assert await queue.oldest_age() == 0.0
    await queue.send(messages=[Outgoing(b"a")])
    clock.now += 10
    await queue.send(messages=[Outgoing(b"b")])
    clock.now += 5
    assert await queue.oldest_age() == 15.0
    first, _ = await queue.receive(max_messages=2, wait_seconds=0)
    assert await queue.oldest_age() == 15.0  # in flight, still here
    await queue.ack(receipts=[first.receipt])
    assert await queue.oldest_age() == 5.0


async def test_a_version_3_file_keeps_the_keys_of_its_waiting_messages(tmp_path: Path) -> None:
    """Version 3 deduplicated by a unique index over the messages still here; the step to 4
    starts each such key's window at its message's send."""
    path = tmp_path / "v3.db"
    db = await SqliteDatabase.open(path)
    await db.close()
    sent_at = 1_700_000_000.0
    with sqlite3.connect(path) as old:  # back to what version 3 held
        old.execute("DROP TABLE queue_dedup")
        old.execute(
            "CREATE UNIQUE INDEX queue_messages_dedup ON queue_messages (queue, dedup_key)"
            " WHERE dedup_key IS NOT NULL"
        )
        old.execute(
            "INSERT INTO queue_messages (queue, body, visible_at, sent_at, dedup_key)"
            " VALUES ('fanout', x'01', ?, ?, 'waiting')",
            (sent_at, sent_at),
        )
        old.execute("PRAGMA user_version = 3")
    db = await SqliteDatabase.open(path)
    try:
        assert await db.fetchone("PRAGMA user_version") == (SCHEMA_VERSION,)
        assert await db.fetchall("SELECT name FROM sqlite_master WHERE name = 'queue_messages_dedup'") == []
        clock = Clock()
        clock.now = sent_at + 100
        queue = queue_on(db, clock)
        await queue.send(messages=[Outgoing(b"dropped", dedup_key="waiting")])
        assert await bodies(queue) == [b"\x01"]
        clock.now = sent_at + 300
        await queue.send(messages=[Outgoing(b"accepted", dedup_key="waiting")])
        assert b"accepted" in await bodies(queue)
    finally:
        await db.close()
