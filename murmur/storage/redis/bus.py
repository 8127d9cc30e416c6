"""Live events over Redis pub/sub: a publish on one API pod reaches subscribers on every pod.

Each subscription has a PubSub connection of its own and a task that reads it as fast
as messages arrive into a bounded buffer that drops its oldest messages when the
subscriber falls behind (the in-process bus's BufferedSubscription): Redis never sees a
slow reader (it would disconnect one past its output-buffer limit), and publishers
never wait for one. Channels carry the connection's key prefix, as pub/sub ignores
database numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from redis.asyncio.client import PubSub

from murmur.domain import RetryableStoreError
from murmur.storage.counting import counted
from murmur.storage.redis.connection import REDIS_ERRORS, SOCKET_TIMEOUT_SECONDS, RedisConnection
from murmur.storage.subscription import BufferedSubscription

STORE = "bus"
RECONNECT_SECONDS = (0.05, 5.0)  # first and longest wait between attempts to re-subscribe
log = logging.getLogger(__name__)


@counted(STORE)
class RedisEventBus:
    def __init__(self, *, conn: RedisConnection, max_pending: int = 256) -> None:
        self._conn = conn
        self._max_pending = max_pending

    async def publish(self, *, channel: str, message: bytes) -> None:
        """Fire and forget: a message Redis cannot take is lost like one nobody hears."""
        await self._conn.call(
            lambda: self._conn.client.publish(self._conn.key(channel), message),
            store=STORE,
            operation="publish",
        )

    @asynccontextmanager
    async def subscribe(self, *, channels: Sequence[str]) -> AsyncIterator[BufferedSubscription]:
        """Yields once Redis has confirmed every channel, so whatever is published after
        entering is delivered. Raises RetryableStoreError if Redis cannot be reached."""
        buffer = BufferedSubscription(self._max_pending)
        names = {self._conn.key(channel): channel for channel in channels}
        if not names:  # nothing to hear (and Redis refuses a SUBSCRIBE without channels)
            yield buffer
            return
        pubsub = self._conn.pubsub()
        reader = _Reader(pubsub, names, buffer)
        try:
            await reader.start()
            yield buffer
        finally:
            await reader.stop()
            # closing the connection unsubscribes it from every channel at once, and the
            # pool gets it back clean rather than with unread confirmations
            await pubsub.aclose()  # type: ignore[no-untyped-call]


class _Reader:
    """Moves messages from a PubSub connection into a subscription's buffer, reconnecting
    (redis-py re-subscribes on reconnect) until stopped; messages sent meanwhile are lost."""

    def __init__(self, pubsub: PubSub, names: dict[str, str], buffer: BufferedSubscription) -> None:
        self._pubsub = pubsub
        self._names = names  # prefixed channel -> the subscriber's name for it
        self._buffer = buffer
        self._unconfirmed = set(names)
        self._confirmed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe, and return once Redis has confirmed every channel."""
        try:
            await self._pubsub.subscribe(*self._names)
            self._task = asyncio.create_task(self._run(), name="redis-subscription")
            async with asyncio.timeout(SOCKET_TIMEOUT_SECONDS * 5):
                await self._confirmed.wait()
        except (*REDIS_ERRORS, TimeoutError) as exc:
            raise RetryableStoreError(
                f"live events are unavailable: Redis did not subscribe ({exc!r})"
            ) from exc

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        wait, longest = RECONNECT_SECONDS
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except REDIS_ERRORS as exc:
                log.warning("live events: Redis subscription failed (%r), retrying in %.2f s", exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, longest)
                continue
            wait = RECONNECT_SECONDS[0]
            if message is None:
                continue
            if message["type"] == "message":
                self._buffer.offer(self._names[message["channel"].decode()], message["data"])
            elif message["type"] == "subscribe":
                self._unconfirmed.discard(message["channel"].decode())
                if not self._unconfirmed:
                    self._confirmed.set()
