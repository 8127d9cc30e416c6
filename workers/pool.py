"""Consumers, the outbox relay and the queue-depth gauge, run as tasks of one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from murmur.metrics import QUEUE_DEPTH
from murmur.platform import Platform
from workers.consumer import Consumer

log = logging.getLogger(__name__)

RELAY_INTERVAL_SECONDS = 1.0


class WorkerPool:
    def __init__(self, platform: Platform, *, workers: int) -> None:
        self._platform = platform
        self._workers = workers
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(Consumer(self._platform).run(self._stop), name=f"fanout-consumer-{i}")
            for i in range(self._workers)
        ]
        self._tasks.append(asyncio.create_task(self._relay(), name="outbox-relay"))

    async def stop(self) -> None:
        """Let consumers finish the message in hand, then stop."""
        self._stop.set()
        grace = self._platform.settings.workers.wait_seconds + 5.0
        _, pending = await asyncio.wait(self._tasks, timeout=grace) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _relay(self) -> None:
        """Publish outbox messages whose inline publish failed, and report queue depth."""
        grace = self._platform.settings.workers.outbox_grace_seconds
        while not self._stop.is_set():
            try:
                await self._platform.feed.relay_outbox(older_than_seconds=grace)
                depth = await self._platform.backends.queue.depth()
                QUEUE_DEPTH.labels("visible").set(depth.visible)
                QUEUE_DEPTH.labels("in_flight").set(depth.in_flight)
                QUEUE_DEPTH.labels("dead").set(depth.dead)
            except Exception:
                log.exception("outbox relay failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=RELAY_INTERVAL_SECONDS)
