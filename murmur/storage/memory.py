"""In-process stand-ins for the cache and the pub/sub bus (the embedded shape has one process)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

from murmur.storage.counting import counted
from murmur.storage.subscription import BufferedSubscription


@counted("cache")
class NoCache:
    """A cache that keeps nothing (MURMUR_STORES__CACHE=none): every read goes to the stores,
    which is what the study compares caching against."""

    async def get_many(self, *, keys: Sequence[str]) -> dict[str, bytes]:
        return {}

    async def set_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        return None

    async def add_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        return None

    async def replace_many(self, *, items: Mapping[str, tuple[bytes, bytes]], ttl_seconds: int) -> None:
        return None

    async def delete(self, *, keys: Sequence[str]) -> None:
        return None


@counted("cache")
class MemoryCache:
    """A least-recently-used cache with per-entry expiry, bounded in entries and in bytes of values."""

    def __init__(
        self,
        *,
        max_entries: int = 100_000,
        max_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # key -> (expires, value)
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(self, *, keys: Sequence[str]) -> dict[str, bytes]:
        now = self._clock()
        found: dict[str, bytes] = {}
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            expires, value = entry
            if expires <= now:
                self._remove(key)
                continue
            self._entries.move_to_end(key)
            found[key] = value
        return found

    async def set_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        if ttl_seconds <= 0:
            await self.delete(keys=list(items))
            return
        expires = self._clock() + ttl_seconds
        for key, value in items.items():
            if len(value) > self._max_bytes:
                self._remove(key)  # would evict everything else; a cache may decline to keep it
                continue
            self._remove(key)
            self._entries[key] = (expires, value)
            self._bytes += len(value)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._remove(next(iter(self._entries)))  # least recently used first

    async def add_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        now = self._clock()
        absent = {k: v for k, v in items.items() if k not in self._entries or self._entries[k][0] <= now}
        await self.set_many(items=absent, ttl_seconds=ttl_seconds)

    async def replace_many(self, *, items: Mapping[str, tuple[bytes, bytes]], ttl_seconds: int) -> None:
        now = self._clock()
        still = {}
        for key, (expected, new) in items.items():
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now and entry[1] == expected:
                still[key] = new
        await self.set_many(items=still, ttl_seconds=ttl_seconds)

    async def delete(self, *, keys: Sequence[str]) -> None:
        for key in keys:
            self._remove(key)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])


@counted("bus")
class LocalEventBus:
    """Publish/subscribe within one process."""

    def __init__(self, *, max_pending: int = 256) -> None:
        self._max_pending = max_pending
        self._subscribers: dict[str, set[BufferedSubscription]] = {}

    async def publish(self, *, channel: str, message: bytes) -> None:
        for subscription in self._subscribers.get(channel, ()):
            subscription.offer(channel, message)

    @asynccontextmanager
    async def subscribe(self, *, channels: Sequence[str]) -> AsyncIterator[BufferedSubscription]:
        subscription = BufferedSubscription(self._max_pending)
        unique = set(channels)
        for channel in unique:
            self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            for channel in unique:
                listeners = self._subscribers[channel]
                listeners.discard(subscription)
                if not listeners:
                    del self._subscribers[channel]  # so a channel nobody hears costs one failed lookup
