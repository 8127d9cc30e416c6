"""A subscriber's bounded buffer of live events, shared by every EventBus implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


class BufferedSubscription:
    """One subscriber's messages. A subscriber that falls behind by `max_pending` messages
    loses the oldest: live events are best effort, and a slow reader must not stall publishers."""

    def __init__(self, max_pending: int) -> None:
        self._pending: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=max_pending)
        self.dropped = 0

    def offer(self, channel: str, message: bytes) -> None:
        if self._pending.full():
            self._pending.get_nowait()
            self.dropped += 1
        self._pending.put_nowait((channel, message))

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        return await self._pending.get()
