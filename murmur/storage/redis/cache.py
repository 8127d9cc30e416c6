"""The read-through cache in Redis: values under the connection's key prefix, each with a TTL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from murmur.storage.counting import counted
from murmur.storage.redis.connection import NO_ANSWER, RedisConnection

STORE = "cache"

# KEYS: the keys; ARGV: the TTL, then each key's expected value and new value
_REPLACE = """
local stored = 0
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[2 * i] then
        redis.call('SET', key, ARGV[2 * i + 1], 'EX', ARGV[1])
        stored = stored + 1
    end
end
return stored
"""


@counted(STORE)
class RedisCache:
    """A Redis that cannot answer is a miss; a delete it cannot take is owed (see connection)."""

    def __init__(self, *, conn: RedisConnection) -> None:
        self._conn = conn
        self._replace = conn.client.register_script(_REPLACE)

    async def get_many(self, *, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        values = await self._conn.call(
            lambda: self._conn.client.mget([self._conn.key(k) for k in keys]),
            store=STORE,
            operation="get_many",
        )
        if values is NO_ANSWER:
            return {}
        return {key: value for key, value in zip(keys, values, strict=True) if isinstance(value, bytes)}

    async def set_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        if ttl_seconds <= 0:  # as the in-process cache: a non-positive TTL keeps nothing
            await self.delete(keys=list(items))
            return
        if not items:
            return
        keys = [self._conn.key(k) for k in items]
        pipe = self._conn.client.pipeline(transaction=False)
        for key, value in zip(keys, items.values(), strict=True):
            pipe.set(key, value, ex=ttl_seconds)
        # a set that may not have happened leaves the old value there: it is owed a delete
        if await self._conn.call(pipe.execute, store=STORE, operation="set_many") is NO_ANSWER:
            self._conn.owe_deletes(keys)

    async def add_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        if ttl_seconds <= 0 or not items:
            return
        pipe = self._conn.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(self._conn.key(key), value, ex=ttl_seconds, nx=True)
        # a failed add stores nothing: nothing stale is left, so nothing is owed
        await self._conn.call(pipe.execute, store=STORE, operation="add_many")

    async def replace_many(self, *, items: Mapping[str, tuple[bytes, bytes]], ttl_seconds: int) -> None:
        if ttl_seconds <= 0 or not items:
            return
        args: list[bytes | int] = [ttl_seconds]
        for expected, new in items.values():
            args += [expected, new]
        keys = [self._conn.key(k) for k in items]
        # one script, so each compare-and-set is atomic; unanswered, a value set is still fresh
        await self._conn.call(
            lambda: self._replace(keys=keys, args=args), store=STORE, operation="replace_many"
        )

    async def delete(self, *, keys: Sequence[str]) -> None:
        await self._conn.forget([self._conn.key(k) for k in keys], store=STORE, operation="delete")
