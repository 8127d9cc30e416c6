"""Read-through caching of users and posts, in front of any UserStore and PostStore.

A load takes a lease on each key it misses before it reads the store (a marker set only
where the key holds nothing), and stores what it read only where its lease is still
there (replace_many, as memcache's leases do). A change writes over the entry: a new
profile replaces the old, a deleted post leaves a tombstone, and either replaces the
lease. So a slow load that read the post before it was deleted cannot bring it back
afterwards, whatever the timing, and neither can an eviction of the tombstone: an
evicted lease or tombstone is not the lease the load holds. A delete writes its
tombstone before the store delete (a crash between them cannot leave the post served)
and again after it (a tombstone evicted meanwhile); a profile update or a revocation
writes a fence first (a short-lived marker no load can take a lease over), so a load
that read the old value before the store changed cannot cache it, even if this process
dies before it caches the new one. A miss always falls through to the
store, so flushing the cache changes no answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import orjson

from murmur.domain import Credentials, Delivery, Post, PostId, ProfileUpdate, User, UserId
from murmur.storage.base import Cache, OutboxMessage, PostStore, UserStore

TTL_SECONDS = 3600
TOMBSTONE = b"\x00"  # a deleted post: no encoded value starts with a zero byte
LEASE = b"\x01"  # the start of a load's lease: no encoded value starts with it either
FENCE = b"\x02"  # a change in progress: loads neither use it nor store over it
LEASE_TTL_SECONDS = 30  # longer than a load takes; a lease left by a crashed load expires


K = TypeVar("K", bound=str)
V = TypeVar("V")


def _user_key(user_id: str) -> str:
    return f"user:{user_id}"


def _token_version_key(user_id: str) -> str:
    return f"token-version:{user_id}"


def _post_key(post_id: str) -> str:
    return f"post:{post_id}"


async def _read_through(
    cache: Cache,
    ids: Sequence[K],
    *,
    key: Callable[[str], str],
    load: Callable[[list[K]], Awaitable[dict[K, V]]],
    encode: Callable[[V], bytes],
    decode: Callable[[bytes], V],
) -> dict[K, V]:
    """Answer from the cache what it holds, load the rest and remember it under a lease."""
    wanted = {key(i): i for i in ids}
    found = await cache.get_many(keys=list(wanted))
    values = {
        wanted[k]: decode(data)
        for k, data in found.items()
        if data != TOMBSTONE and data[:1] not in (LEASE, FENCE)
    }
    gone = {wanted[k] for k, data in found.items() if data == TOMBSTONE}
    missing = [i for i in ids if i not in values and i not in gone]
    if missing:
        lease = LEASE + secrets.token_bytes(8)
        # another load's lease already there: that load stores, this one only answers
        await cache.add_many(items={key(i): lease for i in missing}, ttl_seconds=LEASE_TTL_SECONDS)
        loaded = await load(missing)
        if loaded:
            await cache.replace_many(
                items={key(i): (lease, encode(value)) for i, value in loaded.items()},
                ttl_seconds=TTL_SECONDS,
            )
        values.update(loaded)
    return values


async def _fence(cache: Cache, key: str) -> None:
    """Before a change to the store: a load that read the old value meanwhile cannot cache
    it (its lease is gone, and a new one cannot be taken over the fence), and if this
    process dies before writing the new value, the fence expires and loads read the store."""
    await cache.set_many(items={key: FENCE}, ttl_seconds=LEASE_TTL_SECONDS)


def _encode_user(user: User) -> bytes:
    return orjson.dumps(
        [user.id, user.username, user.display_name, user.bio, int(user.created_at.timestamp() * 1000)]
    )


def _decode_user(data: bytes) -> User:
    uid, username, display_name, bio, created_ms = orjson.loads(data)
    return User(
        id=UserId(uid),
        username=username,
        display_name=display_name,
        bio=bio,
        created_at=datetime.fromtimestamp(created_ms / 1000, tz=UTC),
    )


def _encode_post(post: Post) -> bytes:
    return orjson.dumps(
        [post.id, post.author_id, post.body, int(post.created_at.timestamp() * 1000), post.delivery.value]
    )


def _decode_post(data: bytes) -> Post:
    pid, author_id, body, created_ms, delivery = orjson.loads(data)
    return Post(
        id=PostId(pid),
        author_id=UserId(author_id),
        body=body,
        created_at=datetime.fromtimestamp(created_ms / 1000, tz=UTC),
        delivery=Delivery(delivery),
    )


class CachedUserStore:
    def __init__(self, *, inner: UserStore, cache: Cache) -> None:
        self._inner = inner
        self._cache = cache

    async def users_by_id(self, *, ids: Sequence[UserId]) -> dict[UserId, User]:
        async def load(missing: list[UserId]) -> dict[UserId, User]:
            return await self._inner.users_by_id(ids=missing)

        return await _read_through(
            self._cache, ids, key=_user_key, load=load, encode=_encode_user, decode=_decode_user
        )

    async def update_profile(self, *, user_id: UserId, update: ProfileUpdate) -> User:
        key = _user_key(user_id)
        await _fence(self._cache, key)
        user = await self._inner.update_profile(user_id=user_id, update=update)
        await self._cache.set_many(items={key: _encode_user(user)}, ttl_seconds=TTL_SECONDS)
        return user

    async def token_version(self, *, user_id: UserId) -> int | None:
        """Read on every authenticated operation, so cached, under a lease like every load."""

        async def load(missing: list[UserId]) -> dict[UserId, int]:
            version = await self._inner.token_version(user_id=user_id)
            return {} if version is None else {user_id: version}

        found = await _read_through(
            self._cache,
            [user_id],
            key=_token_version_key,
            load=load,
            encode=lambda version: str(version).encode(),
            decode=int,
        )
        return found.get(user_id)

    async def revoke_tokens(self, *, user_id: UserId) -> int:
        key = _token_version_key(user_id)
        await _fence(self._cache, key)
        version = await self._inner.revoke_tokens(user_id=user_id)
        await self._cache.set_many(items={key: str(version).encode()}, ttl_seconds=TTL_SECONDS)
        return version

    # the rest goes straight to the store
    async def create_user(self, *, user: User, password_hash: str) -> None:
        await self._inner.create_user(user=user, password_hash=password_hash)

    async def import_users(self, *, users: Sequence[tuple[User, str]]) -> None:
        await self._inner.import_users(users=users)

    async def credentials(self, *, username: str) -> Credentials | None:
        return await self._inner.credentials(username=username)

    async def user_by_username(self, *, username: str) -> User | None:
        return await self._inner.user_by_username(username=username)

    async def count_users(self) -> int:
        return await self._inner.count_users()

    async def record_activity(self, *, user_id: UserId, at: datetime) -> datetime | None:
        return await self._inner.record_activity(user_id=user_id, at=at)

    async def active_among(self, *, user_ids: Sequence[UserId], since: datetime) -> set[UserId]:
        return await self._inner.active_among(user_ids=user_ids, since=since)


class CachedPostStore:
    def __init__(self, *, inner: PostStore, cache: Cache) -> None:
        self._inner = inner
        self._cache = cache

    async def posts_by_id(self, *, ids: Sequence[PostId]) -> dict[PostId, Post]:
        async def load(missing: list[PostId]) -> dict[PostId, Post]:
            return await self._inner.posts_by_id(ids=missing)

        return await _read_through(
            self._cache, ids, key=_post_key, load=load, encode=_encode_post, decode=_decode_post
        )

    async def delete_post(self, *, post_id: PostId, outbox: OutboxMessage) -> Post | None:
        tombstone = {_post_key(post_id): TOMBSTONE}
        await self._cache.set_many(items=tombstone, ttl_seconds=TTL_SECONDS)
        try:
            deleted = await self._inner.delete_post(post_id=post_id, outbox=outbox)
        except BaseException:
            await self._cache.delete(keys=list(tombstone))  # maybe not deleted: load it again
            raise
        await self._cache.set_many(items=tombstone, ttl_seconds=TTL_SECONDS)
        return deleted

    # the rest goes straight to the store
    async def create_post(self, *, post: Post, outbox: OutboxMessage) -> None:
        await self._inner.create_post(post=post, outbox=outbox)

    async def import_posts(self, *, posts: Sequence[Post]) -> None:
        await self._inner.import_posts(posts=posts)

    async def recent_posts(
        self,
        *,
        author_ids: Sequence[UserId],
        before: PostId | None,
        limit: int,
        delivery: Delivery | None = None,
    ) -> list[Post]:
        return await self._inner.recent_posts(
            author_ids=author_ids, before=before, limit=limit, delivery=delivery
        )

    async def count_posts(self) -> int:
        return await self._inner.count_posts()

    async def save_outbox(self, *, message: OutboxMessage, held_seconds: float = 0.0) -> None:
        await self._inner.save_outbox(message=message, held_seconds=held_seconds)

    async def pulled_authors(self, *, author_ids: Sequence[UserId]) -> set[UserId]:
        return await self._inner.pulled_authors(author_ids=author_ids)

    async def claim_outbox(
        self, *, older_than_seconds: float, limit: int, lease_seconds: float
    ) -> list[OutboxMessage]:
        return await self._inner.claim_outbox(
            older_than_seconds=older_than_seconds, limit=limit, lease_seconds=lease_seconds
        )

    async def outbox_published(self, *, ids: Sequence[str]) -> None:
        await self._inner.outbox_published(ids=ids)
