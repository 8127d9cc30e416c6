"""An at-least-once work queue in SQLite, with leases, long polling and a dead-letter table.

Receiving leases a message: its visible_at moves a visibility timeout ahead and
its receive_count goes up. The receipt names the message and that count, so
only the latest delivery can settle it: a worker whose lease ran out and whose
message went to another worker cannot ack, extend, release (or retry, or
dead-letter) it. A release gives the delivery back: the message is visible at
once and its receive_count goes down again, so a worker shutting down does not
bring a message closer to the dead letters.

Deduplication follows SQS FIFO: a dedup key is remembered for `dedup_window_seconds`
(5 minutes) from its first send, whether that message is still waiting, in flight,
acknowledged or dead; a send with a remembered key is dropped, and one after the window
is accepted even if the first is still here. Keys are kept in queue_dedup, pruned on
each send.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from murmur.domain import PermanentStoreError
from murmur.storage.base import Outgoing, QueueDepth, QueueMessage
from murmur.storage.counting import counted
from murmur.storage.sqlite.codec import json_array
from murmur.storage.sqlite.database import Session, SqliteDatabase

DEDUP_WINDOW_SECONDS = 300.0  # SQS FIFO's deduplication interval

_SETTLE = "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
# a receipt settles only while its lease runs: once it lapsed, as on AWS, it is expired
# even if nobody has received the message again yet
_LIVE = "visible_at > ?"


def _receipt(message_id: int, receive_count: int) -> str:
    return f"{message_id}.{receive_count}"


def _parse_receipt(receipt: str) -> tuple[int, int]:
    message_id, _, count = receipt.partition(".")
    if not (message_id.isdigit() and count.isdigit()):
        raise PermanentStoreError(f"not a receipt of this queue: {receipt!r}")
    return int(message_id), int(count)


def _deliveries(receipts: Sequence[str]) -> str:
    return json_array(_parse_receipt(receipt) for receipt in receipts)


@counted("queue")
class SqliteQueue:
    """One named queue in the database (several may share it).

    `receive` long-polls: it wakes as soon as this process sends, and otherwise
    looks again every `poll_interval_seconds` (other processes' messages) and when
    a hidden message is due to reappear.
    """

    def __init__(
        self,
        *,
        db: SqliteDatabase,
        visibility_timeout_seconds: float,
        max_receives: int,
        name: str = "fanout",
        poll_interval_seconds: float = 0.5,
        dedup_window_seconds: float = DEDUP_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """clock: unix seconds now (tests move it to cross the dedup window without waiting)."""
        if max_receives < 1:
            raise ValueError("max_receives must be at least 1")
        if dedup_window_seconds < 0:
            raise ValueError("dedup_window_seconds must not be negative")
        self._db = db
        self._name = name
        self._visibility_timeout = visibility_timeout_seconds
        self._max_receives = max_receives
        self._poll_interval = poll_interval_seconds
        self._dedup_window = dedup_window_seconds
        self._clock = clock
        # replaced on every send: a waiter holds the one current when it last looked
        self._sent = asyncio.Event()

    async def send(self, *, messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        now = self._clock()
        keys = [m.dedup_key for m in messages if m.dedup_key is not None]
        async with self._db.write() as tx:
            await tx.execute(
                "DELETE FROM queue_dedup WHERE queue = ? AND first_sent_at <= ?",
                (self._name, now - self._dedup_window),
            )
            remembered: set[str] = set()
            if keys:
                remembered.update(
                    await tx.column(
                        "SELECT dedup_key FROM queue_dedup"
                        " WHERE queue = ? AND dedup_key IN (SELECT value FROM json_each(?))",
                        (self._name, json_array(keys)),
                    )
                )
            fresh: list[Outgoing] = []
            for message in messages:
                if message.dedup_key is not None:
                    if message.dedup_key in remembered:
                        continue  # sent within the window (or earlier in this batch): dropped
                    remembered.add(message.dedup_key)
                fresh.append(message)
            if keys:
                await tx.executemany(
                    "INSERT INTO queue_dedup (queue, dedup_key, first_sent_at) VALUES (?, ?, ?)",
                    [(self._name, m.dedup_key, now) for m in fresh if m.dedup_key is not None],
                )
            await tx.executemany(
                "INSERT INTO queue_messages (queue, body, visible_at, sent_at, dedup_key)"
                " VALUES (?, ?, ?, ?, ?)",
                [(self._name, m.body, now, now, m.dedup_key) for m in fresh],
            )
        self._wake_receivers()

    async def receive(self, *, max_messages: int, wait_seconds: float) -> list[QueueMessage]:
        if max_messages <= 0:
            return []
        deadline = time.monotonic() + wait_seconds
        while True:
            sent = self._sent  # taken before looking, so a send while we look is not missed
            due_in = await self._seconds_until_visible()
            if due_in is not None and due_in <= 0:
                messages = await self._lease(max_messages)
                if messages:
                    return messages
                continue  # others took them, or they were dead-lettered: look again
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            pause = min(remaining, self._poll_interval, due_in if due_in is not None else remaining)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await sent.wait()

    async def ack(self, *, receipts: Sequence[str]) -> None:
        if not receipts:
            return
        async with self._db.write() as tx:
            await tx.execute(
                f"DELETE FROM queue_messages WHERE (id, receive_count) IN {_SETTLE} AND {_LIVE}",
                (_deliveries(receipts), self._clock()),
            )

    async def extend(self, *, receipts: Sequence[str], seconds: float) -> None:
        if not receipts:
            return
        now = self._clock()
        async with self._db.write() as tx:
            await tx.execute(
                f"UPDATE queue_messages SET visible_at = ? WHERE (id, receive_count) IN {_SETTLE} AND {_LIVE}",
                (now + max(0.0, seconds), _deliveries(receipts), now),
            )

    async def release(self, *, receipts: Sequence[str]) -> None:
        if not receipts:
            return
        async with self._db.write() as tx:
            now = self._clock()
            await tx.execute(
                "UPDATE queue_messages SET visible_at = ?, receive_count = receive_count - 1"
                f" WHERE (id, receive_count) IN {_SETTLE} AND {_LIVE}",
                (now, _deliveries(receipts), now),
            )
        self._wake_receivers()

    async def retry_later(self, *, receipt: str, delay_seconds: float) -> None:
        message_id, count = _parse_receipt(receipt)
        async with self._db.write() as tx:
            now = self._clock()
            await tx.execute(
                f"UPDATE queue_messages SET visible_at = ? WHERE id = ? AND receive_count = ? AND {_LIVE}",
                (now + max(0.0, delay_seconds), message_id, count, now),
            )
        if delay_seconds <= 0:
            self._wake_receivers()

    async def dead_letter(self, *, receipts: Sequence[str]) -> None:
        if not receipts:
            return
        async with self._db.write() as tx:
            ids = await tx.column(
                f"SELECT id FROM queue_messages WHERE (id, receive_count) IN {_SETTLE} AND {_LIVE}",
                (_deliveries(receipts), self._clock()),
            )
            await _move_to_dead_letters(tx, ids, now=self._clock())

    async def dead_letters(self, *, limit: int) -> list[bytes]:
        rows = await self._db.fetchall(
            "SELECT body FROM queue_dead_letters WHERE queue = ? ORDER BY id LIMIT ?", (self._name, limit)
        )
        return [row[0] for row in rows]

    async def depth(self) -> QueueDepth:
        now = self._clock()
        async with self._db.read() as session:
            counts = await session.fetchone(
                "SELECT coalesce(sum(visible_at <= ?1), 0), coalesce(sum(visible_at > ?1), 0)"
                " FROM queue_messages WHERE queue = ?2",
                (now, self._name),
            )
            dead = await session.fetchone(
                "SELECT count(*) FROM queue_dead_letters WHERE queue = ?", (self._name,)
            )
        assert counts is not None and dead is not None  # aggregates always answer one row
        return QueueDepth(visible=counts[0], in_flight=counts[1], dead=dead[0])

    async def oldest_age(self) -> float | None:
        """Seconds since the oldest message here (waiting or in flight) was sent; 0 when empty.
        The first one sent is the oldest (ids grow with time: the rowid walk stops at the first
        of this queue, no index needed); messages from before sent_at was recorded are left out."""
        row = await self._db.fetchone(
            "SELECT sent_at FROM queue_messages WHERE queue = ? AND sent_at > 0 ORDER BY id LIMIT 1",
            (self._name,),
        )
        if row is None or row[0] is None:
            return 0.0
        return max(0.0, self._clock() - float(row[0]))

    async def _seconds_until_visible(self) -> float | None:
        """How long until the next message is visible (<= 0: one is now); None if the queue is empty."""
        row = await self._db.fetchone(
            "SELECT min(visible_at) FROM queue_messages WHERE queue = ?", (self._name,)
        )
        return None if row is None or row[0] is None else float(row[0]) - self._clock()

    async def _lease(self, max_messages: int) -> list[QueueMessage]:
        """Lease up to max_messages visible messages, moving those out of receives to the dead letters."""
        now = self._clock()
        async with self._db.write() as tx:
            candidates = await tx.fetchall(
                "SELECT id, receive_count FROM queue_messages WHERE queue = ? AND visible_at <= ?"
                " ORDER BY visible_at, id LIMIT ?",
                (self._name, now, max_messages),
            )
            spent = [message_id for message_id, count in candidates if count >= self._max_receives]
            fresh = [message_id for message_id, count in candidates if count < self._max_receives]
            await _move_to_dead_letters(tx, spent, now=now)
            rows = []
            if fresh:
                rows = await tx.fetchall(
                    "UPDATE queue_messages SET visible_at = ?, receive_count = receive_count + 1"
                    " WHERE id IN (SELECT value FROM json_each(?)) RETURNING id, body, receive_count, sent_at",
                    (now + self._visibility_timeout, json_array(fresh)),
                )
        chosen = {message_id: position for position, (message_id, _) in enumerate(candidates)}
        rows.sort(key=lambda row: chosen[row[0]])  # RETURNING has no order; keep the queue's
        return [
            QueueMessage(receipt=_receipt(message_id, count), body=body, receive_count=count, sent_at=sent_at)
            for message_id, body, count, sent_at in rows
        ]

    def _wake_receivers(self) -> None:
        sent, self._sent = self._sent, asyncio.Event()
        sent.set()


async def _move_to_dead_letters(tx: Session, ids: Sequence[int], *, now: float) -> None:
    if not ids:
        return
    id_list = json_array(ids)
    await tx.execute(
        "INSERT INTO queue_dead_letters (id, queue, body, receive_count, dead_at)"
        " SELECT id, queue, body, receive_count, ? FROM queue_messages WHERE id IN (SELECT value FROM json_each(?))",
        (now, id_list),
    )
    await tx.execute("DELETE FROM queue_messages WHERE id IN (SELECT value FROM json_each(?))", (id_list,))
