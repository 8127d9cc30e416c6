"""One fan-out consumer: take messages from the two lanes, handle each, settle it.

Lanes: the express lane (posts, deletes, follows, fan-out plans) is looked at first,
and the bulk lane (chunks of big fan-outs) taken one message at a time, so a regular
author's post waits at most for the chunk a consumer has in hand, never behind a
celebrity's whole fan-out. The lanes are fair, not strict: one poll in
`bulk_poll_every` looks at the bulk lane first, so a backlog of express work slows big
fan-outs down but never starves them (a starved chunk would sit there until the queue's
retention dropped it).

Leases: while messages are in hand a heartbeat extends their leases every third of the
visibility timeout, so long work is never handed to a second worker mid-way. On stop,
the message being handled is finished and the rest are released at once; a consumer
cancelled mid-message (the grace period ran out) releases that one too, and handlers
are idempotent, so another worker redoes it safely.

Settling splits failures the way the queue needs: a message that cannot be decoded,
or a permanent store error, goes to the dead-letter queue at once; anything else is
retried with exponential backoff, and the queue dead-letters it after `max_receives`
deliveries.

A queue operation on a message in hand that fails (ack, retry, dead-letter, release,
extend) is logged with its cause and counted (murmur_queue_settle_failures_total); the
message is safe in the queue and comes back when its lease ends (or, refused as a stale
receipt, is someone else's now). Only a failed receive marks the consumer unhealthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from murmur.domain import PermanentStoreError
from murmur.events.codec import UndecodableMessage
from murmur.metrics import IN_FLIGHT, QUEUE_MESSAGES, QUEUE_WAIT, REDELIVERIES, SETTLE_FAILURES
from murmur.settings import WorkerSettings
from murmur.storage.base import Queue, QueueMessage

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
# with long polling off (wait_seconds 0), a consumer that found nothing pauses this long
IDLE_PAUSE_SECONDS = 0.1

Handler = Callable[[bytes], Awaitable[None]]


def backoff_seconds(receive_count: int) -> float:
    """1 s after the first failure, doubling, at most a minute."""
    return min(MAX_BACKOFF_SECONDS, 2.0 ** (receive_count - 1))


@dataclass(frozen=True, slots=True)
class Lane:
    name: str  # "express" or "bulk", the metrics' label
    queue: Queue
    batch: int  # messages taken per receive


class Consumer:
    def __init__(self, *, handle: Handler, lanes: Sequence[Lane], settings: WorkerSettings) -> None:
        self._handle = handle
        self._lanes = list(lanes)
        self._settings = settings
        self._stopping = asyncio.Event()
        self._polls = 0
        self.healthy = True  # the last receive worked (readiness)

    def stop_soon(self) -> None:
        """Finish the message in hand, release the rest, take no more."""
        self._stopping.set()

    async def run(self) -> None:
        wait = self._settings.wait_seconds
        while not self._stopping.is_set():
            try:
                got = await self.poll_once(wait_seconds=wait)
                self.healthy = True
                if not got and wait <= 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), timeout=IDLE_PAUSE_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:
                # only a receive raises here (settling failures are logged and counted where
                # they happen): don't spin; the messages are still safe in the queue
                self.healthy = False
                log.exception("receiving from the fan-out queue failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=1.0)

    def _lanes_in_turn(self) -> list[Lane]:
        """The lanes in the order this poll looks at them: express first, except one poll in
        `bulk_poll_every`, which starts with the bulk lane (the lanes after the first)."""
        self._polls += 1
        if len(self._lanes) > 1 and self._polls % self._settings.bulk_poll_every == 0:
            return [*self._lanes[1:], self._lanes[0]]
        return self._lanes

    async def poll_once(self, *, wait_seconds: float) -> int:
        """Receive and settle one batch from the first lane that has work, in this poll's
        order (_lanes_in_turn); how many it held."""
        for lane in self._lanes_in_turn():
            messages = await self._receive(lane, wait_seconds=0)
            if messages:
                return await self._work(lane, messages)
        if wait_seconds <= 0 or self._stopping.is_set():
            return 0
        # nothing anywhere: wait on the express lane (bulk work waits at most this long)
        express = self._lanes[0]
        messages = await self._receive(express, wait_seconds=wait_seconds)
        return await self._work(express, messages) if messages else 0

    async def _receive(self, lane: Lane, *, wait_seconds: float) -> list[QueueMessage]:
        """Receive, even if cancelled meanwhile: a receive cut off half-way may have leased
        messages it never returns. On cancellation it finishes (a long poll at most), hands
        what it got straight back, and the cancellation goes on."""
        receiving = asyncio.ensure_future(
            lane.queue.receive(max_messages=lane.batch, wait_seconds=wait_seconds)
        )
        try:
            return await asyncio.shield(receiving)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # a receive that failed leased nothing
                got = await receiving
                if got:
                    await self._settle_op(
                        lane, "release", lane.queue.release(receipts=[m.receipt for m in got])
                    )
            raise

    async def _work(self, lane: Lane, messages: list[QueueMessage]) -> int:
        now = time.time()
        for message in messages:
            if message.sent_at:
                QUEUE_WAIT.labels(lane.name).observe(max(0.0, now - message.sent_at))
            if message.receive_count > 1:
                REDELIVERIES.labels(lane.name).inc()
        held = {message.receipt: message for message in messages}
        IN_FLIGHT.inc(len(held))
        heartbeat = asyncio.create_task(self._keep_leases(lane, held), name="lease-heartbeat")
        try:
            for message in messages:
                if self._stopping.is_set():
                    break  # the rest are released below, unstarted
                await self._settle(lane, message)
                del held[message.receipt]
                IN_FLIGHT.dec()
        finally:
            heartbeat.cancel()
            if held:  # unstarted, or interrupted: back to the queue at once for another worker
                IN_FLIGHT.dec(len(held))
                releasing = asyncio.ensure_future(
                    self._settle_op(lane, "release", lane.queue.release(receipts=list(held)))
                )
                if await asyncio.shield(releasing):
                    QUEUE_MESSAGES.labels(lane.name, "released").inc(len(held))
        return len(messages)

    async def _keep_leases(self, lane: Lane, held: dict[str, QueueMessage]) -> None:
        lease = self._settings.visibility_timeout_seconds
        while True:
            await asyncio.sleep(lease / 3)
            if not held:
                return
            # a failure is logged and counted; the next beat tries again (two thirds are left)
            await self._settle_op(lane, "extend", lane.queue.extend(receipts=list(held), seconds=lease))

    async def _settle(self, lane: Lane, message: QueueMessage) -> None:
        """Handle one message and settle it; the outcome is counted once the queue took it."""
        queue = lane.queue
        try:
            await self._handle(message.body)
        except (UndecodableMessage, PermanentStoreError) as error:
            log.error("dead-lettering a fan-out message: %s", error)
            action, outcome = "dead_letter", "dead_lettered"
            settling = queue.dead_letter(receipts=[message.receipt])
        except Exception:
            log.warning(
                "fan-out message failed (delivery %d); retrying", message.receive_count, exc_info=True
            )
            action, outcome = "retry", "retried"
            delay = backoff_seconds(message.receive_count)
            settling = queue.retry_later(receipt=message.receipt, delay_seconds=delay)
        else:
            action, outcome = "ack", "done"
            settling = queue.ack(receipts=[message.receipt])
        if await self._settle_op(lane, action, settling):
            QUEUE_MESSAGES.labels(lane.name, outcome).inc()

    async def _settle_op(self, lane: Lane, action: str, operation: Awaitable[None]) -> bool:
        """Run one queue operation on messages in hand; a failure is logged with its cause and
        counted, never raised: the messages are safe in the queue (they come back when their
        lease ends), and the consumer's health is about receiving only."""
        try:
            await operation
        except Exception as error:
            SETTLE_FAILURES.labels(lane.name, action).inc()
            log.warning(
                "%s on the %s lane failed (%s: %s); the message comes back when its lease ends",
                action,
                lane.name,
                type(error).__name__,
                error,
                exc_info=True,
            )
            return False
        return True
