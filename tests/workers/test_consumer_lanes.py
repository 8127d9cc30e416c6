"""The consumer's lanes are fair (a backlog of express work never starves the bulk lane), a
failed queue operation on a message in hand is logged and counted without making the consumer
unhealthy, and the relay reports each lane's oldest message. Real SQLite queues; faults are
injected by a wrapper whose named operations raise, as an unreachable queue would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from murmur.domain import PermanentStoreError, RetryableStoreError
from murmur.settings import WorkerSettings
from murmur.storage.base import Outgoing, Queue
from murmur.storage.sqlite import SqliteDatabase, SqliteQueue
from tests.support import make_settings, open_test_platform
from workers.consumer import Consumer, Lane
from workers.pool import report_lanes

SETTINGS = WorkerSettings(wait_seconds=0, visibility_timeout_seconds=30, bulk_poll_every=4)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(tmp_path / "lanes.db")
    yield db
    await db.close()


def lane_queue(db: SqliteDatabase, name: str, **kwargs: Any) -> SqliteQueue:
    return SqliteQueue(db=db, name=name, visibility_timeout_seconds=30, max_receives=5, **kwargs)


class Faulty:
    """A real queue whose named operations raise RetryableStoreError."""

    def __init__(self, queue: Queue, *, failing: set[str]) -> None:
        self._queue = queue
        self._failing = failing
        self.failed = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        if name not in self._failing:
            return getattr(self._queue, name)

        async def fail(**_: Any) -> Any:
            self.failed.set()
            raise RetryableStoreError(f"injected: {name} failed")

        return fail


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- fair lanes (finding 8) -------------------------------------------------------------


async def test_the_bulk_lane_is_served_while_express_has_a_backlog(db: SqliteDatabase) -> None:
    express, bulk = lane_queue(db, "express"), lane_queue(db, "bulk")
    await express.send(messages=[Outgoing(b"express %d" % i) for i in range(500)])
    await bulk.send(messages=[Outgoing(b"bulk %d" % i) for i in range(3)])
    handled: list[bytes] = []

    async def handle(body: bytes) -> None:
        handled.append(body)

    consumer = Consumer(
        handle=handle, lanes=[Lane("express", express, 10), Lane("bulk", bulk, 1)], settings=SETTINGS
    )
    for _ in range(3 * SETTINGS.bulk_poll_every):
        await consumer.poll_once(wait_seconds=0)

    assert [body for body in handled if body.startswith(b"bulk")] == [b"bulk 0", b"bulk 1", b"bulk 2"]
    assert (await express.depth()).visible > 0  # the express backlog is still there
    # express still gets the lion's share: 3 of every 4 polls, 10 messages each
    assert sum(body.startswith(b"express") for body in handled) == 9 * 10


async def test_an_empty_bulk_lane_costs_express_nothing(db: SqliteDatabase) -> None:
    express, bulk = lane_queue(db, "express"), lane_queue(db, "bulk")
    await express.send(messages=[Outgoing(b"%d" % i) for i in range(40)])
    consumer = Consumer(
        handle=lambda _: asyncio.sleep(0),
        lanes=[Lane("express", express, 10), Lane("bulk", bulk, 1)],
        settings=SETTINGS,
    )
    assert [await consumer.poll_once(wait_seconds=0) for _ in range(5)] == [10, 10, 10, 10, 0]


def test_the_bulk_share_is_a_setting() -> None:
    assert WorkerSettings().bulk_poll_every == 4
    with pytest.raises(ValueError):
        WorkerSettings(bulk_poll_every=0)


# --- settling failures (finding 11) -------------------------------------------------------


def fails_with(error: BaseException | None) -> Any:
    async def handle(_: bytes) -> None:
        if error is not None:
            raise error

    return handle


@pytest.mark.parametrize(
    ("action", "operation", "error"),
    [
        ("ack", "ack", None),
        ("retry", "retry_later", ConnectionError("timeline store unreachable")),
        ("dead_letter", "dead_letter", PermanentStoreError("bad message")),
    ],
)
async def test_a_failed_settle_is_logged_and_counted_and_the_consumer_stays_healthy(
    db: SqliteDatabase,
    caplog: pytest.LogCaptureFixture,
    action: str,
    operation: str,
    error: BaseException | None,
) -> None:
    queue = Faulty(lane_queue(db, "express"), failing={operation})
    await queue.send(messages=[Outgoing(b"work")])
    consumer = Consumer(handle=fails_with(error), lanes=[Lane("express", queue, 10)], settings=SETTINGS)
    before = sample("murmur_queue_settle_failures_total", lane="express", action=action)

    with caplog.at_level(logging.WARNING, logger="workers.consumer"):
        running = asyncio.create_task(consumer.run())
        await queue.failed.wait()
        consumer.stop_soon()
        await running

    assert consumer.healthy  # the queue answered receives: the worker is ready
    assert sample("murmur_queue_settle_failures_total", lane="express", action=action) == before + 1
    failure = [r for r in caplog.records if f"{action} on the express lane failed" in r.getMessage()]
    assert failure and "injected" in failure[0].getMessage()  # the cause is in the log line
    assert not [r for r in caplog.records if "receiving from the fan-out queue failed" in r.getMessage()]
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight, depth.dead) == (0, 1, 0)  # safe: back when its lease ends


async def test_a_failed_release_is_logged_and_counted(
    db: SqliteDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    queue = Faulty(lane_queue(db, "express"), failing={"release"})
    await queue.send(messages=[Outgoing(b"first"), Outgoing(b"not started")])
    consumer: Consumer

    async def stop_after_this_one(_: bytes) -> None:
        consumer.stop_soon()  # the worker is shutting down: the rest is released unstarted

    consumer = Consumer(handle=stop_after_this_one, lanes=[Lane("express", queue, 10)], settings=SETTINGS)
    before = sample("murmur_queue_settle_failures_total", lane="express", action="release")
    released = sample("murmur_queue_messages_total", lane="express", outcome="released")
    with caplog.at_level(logging.WARNING, logger="workers.consumer"):
        assert await consumer.poll_once(wait_seconds=0) == 2

    assert sample("murmur_queue_settle_failures_total", lane="express", action="release") == before + 1
    assert sample("murmur_queue_messages_total", lane="express", outcome="released") == released
    assert any("release on the express lane failed" in r.getMessage() for r in caplog.records)


async def test_only_a_failed_receive_makes_the_consumer_unhealthy(db: SqliteDatabase) -> None:
    queue = Faulty(lane_queue(db, "express"), failing={"receive"})
    consumer = Consumer(handle=fails_with(None), lanes=[Lane("express", queue, 10)], settings=SETTINGS)
    running = asyncio.create_task(consumer.run())
    await queue.failed.wait()
    consumer.stop_soon()
    await running
    assert not consumer.healthy


# --- the oldest message's age (finding 8) ------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_relay_reports_each_lanes_oldest_message(tmp_path: Path, db: SqliteDatabase) -> None:
    clock = Clock()
    async with open_test_platform(make_settings(tmp_path)) as platform:
        express, bulk = lane_queue(db, "fanout", clock=clock), lane_queue(db, "fanout-bulk", clock=clock)
        platform.backends.queue, platform.backends.bulk_queue = express, bulk
        await bulk.send(messages=[Outgoing(b"a chunk")])
        clock.now += 90
        await report_lanes(platform)
        assert sample("murmur_queue_oldest_age_seconds", lane="bulk") == 90.0
        assert sample("murmur_queue_oldest_age_seconds", lane="express") == 0.0
        assert sample("murmur_queue_depth", lane="bulk", state="visible") == 1.0
