"""Consumers, the outbox relay and the queue-depth gauge, run as tasks of one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from murmur.metrics import QUEUE_DEPTH, QUEUE_OLDEST_AGE
from murmur.platform import Platform
from workers.consumer import Consumer, Lane

log = logging.getLogger(__name__)

RELAY_INTERVAL_SECONDS = 1.0


def lanes_of(platform: Platform) -> list[Lane]:
    """The express lane first (taken in batches), then the bulk lane (a chunk at a time)."""
    b, batch = platform.backends, platform.settings.workers.batch_size
    return [Lane("express", b.queue, batch), Lane("bulk", b.bulk_queue, 1)]


async def report_lanes(platform: Platform) -> None:
    """Set each lane's depth gauges and the age of its oldest message (where the queue can say:
    on SQS that is CloudWatch's ApproximateAgeOfOldestMessage, and the gauge is left unset)."""
    for lane in lanes_of(platform):
        depth = await lane.queue.depth()
        QUEUE_DEPTH.labels(lane.name, "visible").set(depth.visible)
        QUEUE_DEPTH.labels(lane.name, "in_flight").set(depth.in_flight)
        QUEUE_DEPTH.labels(lane.name, "dead").set(depth.dead)
        age = await lane.queue.oldest_age()
        if age is not None:
            QUEUE_OLDEST_AGE.labels(lane.name).set(age)


def consumer_for(platform: Platform) -> Consumer:
    return Consumer(
        handle=platform.fanout.handle, lanes=lanes_of(platform), settings=platform.settings.workers
    )


class WorkerPool:
    def __init__(self, platform: Platform, *, workers: int) -> None:
        self._platform = platform
        self._workers = workers
        self._stop = asyncio.Event()
        self.consumers: list[Consumer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._relay_task: asyncio.Task[None] | None = None
        self.cut_off = 0  # consumers cancelled mid-message when the grace period ran out

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not self._stop.is_set()

    @property
    def healthy(self) -> bool:
        """Running, and every consumer's last receive worked."""
        return self.running and all(consumer.healthy for consumer in self.consumers)

    async def start(self) -> None:
        self._stop.clear()
        platform = self._platform
        self.consumers = [consumer_for(platform) for _ in range(self._workers)]
        self._tasks = [
            asyncio.create_task(consumer.run(), name=f"fanout-consumer-{i}")
            for i, consumer in enumerate(self.consumers)
        ]
        self._relay_task = asyncio.create_task(self._relay(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop taking work; let messages in hand finish within the grace period, release the rest."""
        self._stop.set()
        for consumer in self.consumers:
            consumer.stop_soon()
        grace = self._platform.settings.workers.shutdown_grace_seconds
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:  # a consumer cancelled mid-message releases it (consumer.py)
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.cut_off += len(late)
            if late:
                log.warning("%d fan-out consumers were cut off after %.0f s", len(late), grace)
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
        self._tasks, self._relay_task = [], None

    async def _relay(self) -> None:
        """Publish outbox messages whose inline publish failed, and report the lanes' depths."""
        platform = self._platform
        grace = platform.settings.workers.outbox_grace_seconds
        while not self._stop.is_set():
            try:
                await platform.feed.relay_outbox(older_than_seconds=grace)
                await report_lanes(platform)
            except Exception:
                log.exception("outbox relay failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=RELAY_INTERVAL_SECONDS)
