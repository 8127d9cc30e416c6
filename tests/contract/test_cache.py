"""Cache contract: what is set can be got until it expires or is deleted."""

from __future__ import annotations

import asyncio

from murmur.storage.base import Cache


async def test_set_values_are_got_and_missing_keys_left_out(cache: Cache) -> None:
    await cache.set_many(items={"a": b"1", "b": b"\x00\xff"}, ttl_seconds=60)

    assert await cache.get_many(keys=["a", "b", "missing"]) == {"a": b"1", "b": b"\x00\xff"}
    assert await cache.get_many(keys=[]) == {}


async def test_setting_again_replaces_the_value(cache: Cache) -> None:
    await cache.set_many(items={"k": b"old"}, ttl_seconds=60)
    await cache.set_many(items={"k": b"new"}, ttl_seconds=60)
    assert await cache.get_many(keys=["k"]) == {"k": b"new"}


async def test_deleted_keys_are_gone(cache: Cache) -> None:
    await cache.set_many(items={"a": b"1", "b": b"2"}, ttl_seconds=60)
    await cache.delete(keys=["a", "never-set"])
    assert await cache.get_many(keys=["a", "b"]) == {"b": b"2"}


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set_many(items={"short": b"1"}, ttl_seconds=1)
    await cache.set_many(items={"long": b"2"}, ttl_seconds=60)
    assert await cache.get_many(keys=["short"]) == {"short": b"1"}

    await asyncio.sleep(1.2)
    assert await cache.get_many(keys=["short", "long"]) == {"long": b"2"}


async def test_add_sets_only_keys_that_hold_nothing(cache: Cache) -> None:
    await cache.set_many(items={"tombstone": b"deleted"}, ttl_seconds=60)
    await cache.add_many(items={"tombstone": b"a stale load", "fresh": b"loaded"}, ttl_seconds=60)

    assert await cache.get_many(keys=["tombstone", "fresh"]) == {"tombstone": b"deleted", "fresh": b"loaded"}
