"""The in-process cache and event bus: bounds, expiry and back-pressure."""

from __future__ import annotations

import asyncio

from murmur.storage.memory import LocalEventBus, MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_least_recently_used_entry_is_evicted_first() -> None:
    cache = MemoryCache(max_entries=3)
    await cache.set_many(items={"a": b"1", "b": b"2", "c": b"3"}, ttl_seconds=60)
    await cache.get_many(keys=["a"])  # a is now the most recent
    await cache.set_many(items={"d": b"4"}, ttl_seconds=60)

    assert await cache.get_many(keys=["a", "b", "c", "d"]) == {"a": b"1", "c": b"3", "d": b"4"}
    assert len(cache) == 3


async def test_the_cache_is_bounded_in_bytes() -> None:
    cache = MemoryCache(max_bytes=10)
    await cache.set_many(items={"a": b"12345", "b": b"12345"}, ttl_seconds=60)
    await cache.set_many(items={"c": b"123"}, ttl_seconds=60)
    assert await cache.get_many(keys=["a", "b", "c"]) == {"b": b"12345", "c": b"123"}

    await cache.set_many(items={"huge": b"x" * 11}, ttl_seconds=60)  # declined, evicts nothing
    assert await cache.get_many(keys=["huge", "b", "c"]) == {"b": b"12345", "c": b"123"}


async def test_entries_expire_by_the_clock() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    await cache.set_many(items={"short": b"1"}, ttl_seconds=5)
    await cache.set_many(items={"long": b"2"}, ttl_seconds=50)

    clock.now += 4.9
    assert await cache.get_many(keys=["short", "long"]) == {"short": b"1", "long": b"2"}
    clock.now += 0.2
    assert await cache.get_many(keys=["short", "long"]) == {"long": b"2"}
    assert len(cache) == 1  # the expired entry is dropped, not just hidden


async def test_a_non_positive_ttl_stores_nothing() -> None:
    cache = MemoryCache()
    await cache.set_many(items={"k": b"old"}, ttl_seconds=60)
    await cache.set_many(items={"k": b"new"}, ttl_seconds=0)
    assert await cache.get_many(keys=["k"]) == {}


async def test_a_slow_subscriber_loses_the_oldest_messages_and_never_blocks_the_publisher() -> None:
    bus = LocalEventBus(max_pending=3)
    async with bus.subscribe(channels=["c"]) as subscription:
        async with asyncio.timeout(1):
            for i in range(5):
                await bus.publish(channel="c", message=bytes([i]))
        assert subscription.dropped == 2
        got = [await anext(aiter(subscription)) for _ in range(3)]
        assert got == [("c", b"\x02"), ("c", b"\x03"), ("c", b"\x04")]


async def test_unsubscribing_forgets_the_channel() -> None:
    bus = LocalEventBus()
    async with bus.subscribe(channels=["a", "a", "b"]), bus.subscribe(channels=["a"]):
        assert set(bus._subscribers) == {"a", "b"}
        assert len(bus._subscribers["a"]) == 2
    assert bus._subscribers == {}
