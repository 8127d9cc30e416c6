"""The read-through cache in front of the stores, on each cache: a delete or a revocation is
never undone by a slow load, by an eviction, or by a crash half-way through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from contract_helpers import created_message, deleted_message, new_post, new_user

from murmur.domain import PermanentStoreError, PostId, UserId
from murmur.storage.base import Cache
from murmur.storage.cached import CachedPostStore, CachedUserStore
from murmur.storage.sqlite import SqliteDatabase, SqlitePostStore, SqliteUserStore

T = TypeVar("T")


class Stalling:
    """A real store whose chosen method stops half-way, after the store has answered, until
    the test lets it go: the slow load of a busy server."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner = inner
        self._method = method
        self.answered = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        async def stalled(*args: Any, **kwargs: Any) -> Any:
            result = await attr(*args, **kwargs)
            self.answered.set()
            await self.go.wait()
            return result

        return stalled


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = await SqliteDatabase.open(tmp_path / "murmur.db")
    yield database
    await database.close()


async def stalled_while(store: Stalling, read: Awaitable[T], meanwhile: Callable[[], Awaitable[None]]) -> T:
    """Start the read, let `meanwhile` happen while its load is stalled, then let it finish."""
    reading = asyncio.ensure_future(read)
    await store.answered.wait()
    await meanwhile()
    store.go.set()
    return await reading


async def test_a_load_that_read_a_post_before_its_delete_cannot_cache_it_even_if_the_tombstone_is_evicted(
    cache: Cache, db: SqliteDatabase
) -> None:
    inner = SqlitePostStore(db=db)
    post = new_post(UserId("1"))
    await inner.create_post(post=post, outbox=created_message(post))
    slow = Stalling(inner, "posts_by_id")
    posts = CachedPostStore(inner=slow, cache=cache)

    async def delete_then_evict() -> None:
        await CachedPostStore(inner=inner, cache=cache).delete_post(
            post_id=post.id, outbox=deleted_message(post.id)
        )
        await cache.delete(keys=[f"post:{post.id}"])  # what an LRU or Redis's maxmemory does

    await stalled_while(slow, posts.posts_by_id(ids=[post.id]), delete_then_evict)
    assert await posts.posts_by_id(ids=[post.id]) == {}


async def test_a_post_is_tombstoned_before_the_store_deletes_it(cache: Cache, db: SqliteDatabase) -> None:
    inner = SqlitePostStore(db=db)
    post = new_post(UserId("1"))
    await inner.create_post(post=post, outbox=created_message(post))
    slow = Stalling(inner, "delete_post")
    posts = CachedPostStore(inner=slow, cache=cache)
    assert PostId(post.id) in await posts.posts_by_id(ids=[post.id])  # cached

    async def read_meanwhile() -> None:
        # the store has deleted it; the process could die here and the cache must not serve it
        assert await posts.posts_by_id(ids=[post.id]) == {}

    await stalled_while(
        slow, posts.delete_post(post_id=post.id, outbox=deleted_message(post.id)), read_meanwhile
    )
    assert await posts.posts_by_id(ids=[post.id]) == {}


async def test_a_delete_the_store_refused_leaves_the_post_readable(cache: Cache, db: SqliteDatabase) -> None:
    inner = SqlitePostStore(db=db)
    post = new_post(UserId("1"))
    await inner.create_post(post=post, outbox=created_message(post))
    posts = CachedPostStore(inner=inner, cache=cache)
    with pytest.raises(PermanentStoreError):  # an outbox id already taken: the delete rolls back
        await posts.delete_post(post_id=post.id, outbox=created_message(post))
    assert PostId(post.id) in await posts.posts_by_id(ids=[post.id])


async def test_a_revocation_is_not_undone_by_a_slow_load_and_an_eviction(
    cache: Cache, db: SqliteDatabase
) -> None:
    inner = SqliteUserStore(db=db)
    user = new_user()
    await inner.create_user(user=user, password_hash="unused")
    before = await inner.token_version(user_id=user.id)
    slow = Stalling(inner, "token_version")
    users = CachedUserStore(inner=slow, cache=cache)

    async def revoke_then_evict() -> None:
        await CachedUserStore(inner=inner, cache=cache).revoke_tokens(user_id=user.id)
        await cache.delete(keys=[f"token-version:{user.id}"])

    assert await stalled_while(slow, users.token_version(user_id=user.id), revoke_then_evict) == before
    assert await users.token_version(user_id=user.id) == await inner.token_version(user_id=user.id) != before


async def test_replace_sets_only_where_the_expected_value_is_still_there(cache: Cache) -> None:
    await cache.set_many(items={"leased": b"\x01mine", "changed": b"\x01mine"}, ttl_seconds=60)
    await cache.set_many(items={"changed": b"\x00"}, ttl_seconds=60)
    await cache.replace_many(
        items={k: (b"\x01mine", b"loaded") for k in ("leased", "changed", "evicted")}, ttl_seconds=60
    )
    assert await cache.get_many(keys=["leased", "changed", "evicted"]) == {
        "leased": b"loaded",
        "changed": b"\x00",
    }


class DiesAfterTheStoreWrite:
    """A real user store whose revocation waits before writing, then writes and never
    answers: the API process that died after the store changed, before the cache did."""

    def __init__(self, inner: SqliteUserStore) -> None:
        self._inner = inner
        self.waiting = asyncio.Event()
        self.go = asyncio.Event()
        self.written = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def revoke_tokens(self, *, user_id: UserId) -> int:
        self.waiting.set()
        await self.go.wait()
        await self._inner.revoke_tokens(user_id=user_id)
        self.written.set()
        await asyncio.Event().wait()  # never answers: cancelled as the process dies
        raise AssertionError("unreachable")


async def test_a_load_racing_a_revocation_whose_process_died_cannot_cache_the_old_version(
    cache: Cache, db: SqliteDatabase
) -> None:
    inner = SqliteUserStore(db=db)
    user = new_user()
    await inner.create_user(user=user, password_hash="unused")
    before = await inner.token_version(user_id=user.id)
    dying = DiesAfterTheStoreWrite(inner)
    revoking = asyncio.ensure_future(CachedUserStore(inner=dying, cache=cache).revoke_tokens(user_id=user.id))
    await dying.waiting.wait()
    users = CachedUserStore(inner=inner, cache=cache)
    assert await users.token_version(user_id=user.id) == before  # read before the store changed
    dying.go.set()
    await dying.written.wait()
    revoking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await revoking
    assert await users.token_version(user_id=user.id) == await inner.token_version(user_id=user.id) != before
