"""Whose posts make up each home timeline, read from the graph once and kept in the cache.

A pull read merges the posts of the viewer and everyone they follow; hybrid merges pulled
posts only from the authors among them who have written any (the "pulled authors", a
few celebrities). Walking a following list of 5,000 users on every page would cost more
than the page, so each list is cached under a *generation*: a random token per viewer
that every follow change replaces (and a global one for "someone became a pulled
author"). A list loaded before a change is stored under the old token, which no reader
asks for after the change, so a stale list is never served whatever the timing; losing
the cache (or a token) only costs a reload.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import orjson

from murmur.domain import UserId
from murmur.storage.base import Cache, FollowGraph, PostStore

FOLLOWING_PAGE = 1000
TTL_SECONDS = 3600
_PULLED_GENERATION = "sources:pulled-generation"


def _generation_key(user_id: UserId) -> str:
    return f"sources:generation:{user_id}"


async def followed_by(graph: FollowGraph, user_id: UserId) -> list[UserId]:
    """The user and everyone they follow, from the graph itself."""
    authors = [user_id]
    cursor: str | None = None
    while True:
        page = await graph.following(user_id=user_id, after=cursor, limit=FOLLOWING_PAGE)
        authors.extend(page.items)
        if page.next_cursor is None:
            return authors
        cursor = page.next_cursor


class Sources:
    def __init__(self, *, graph: FollowGraph, posts: PostStore, cache: Cache) -> None:
        self._graph = graph
        self._posts = posts
        self._cache = cache

    async def of(self, user_id: UserId) -> list[UserId]:
        """The user and everyone they follow."""
        (generation,) = await self._generations([_generation_key(user_id)])
        return await self._followees(user_id, generation)

    async def pulled_of(self, user_id: UserId) -> list[UserId]:
        """The authors among the user's sources who have written a pulled post."""
        mine, pulled = await self._generations([_generation_key(user_id), _PULLED_GENERATION])
        key = f"sources:pulled:{user_id}:{mine}:{pulled}"
        cached = await self._cache.get_many(keys=[key])
        if key in cached:
            return _decode(cached[key])
        authors = await self._followees(user_id, mine)
        chosen = await self._posts.pulled_authors(author_ids=authors)
        ordered = [author for author in authors if author in chosen]
        await self._remember(key, ordered)
        return ordered

    async def _followees(self, user_id: UserId, generation: str) -> list[UserId]:
        key = f"sources:{user_id}:{generation}"
        cached = await self._cache.get_many(keys=[key])
        if key in cached:
            return _decode(cached[key])
        authors = await followed_by(self._graph, user_id)
        await self._remember(key, authors)
        return authors

    # A change drops the generation rather than writing a new one: the next reader starts a
    # fresh one, and a drop the cache could not take is owed (it answers nothing until done).

    async def following_changed(self, user_id: UserId) -> None:
        """Whom the user follows changed: their cached lists are never read again."""
        await self._cache.delete(keys=[_generation_key(user_id)])

    async def pulled_author_added(self) -> None:
        """An author wrote their first pulled post: every cached pulled list is stale."""
        await self._cache.delete(keys=[_PULLED_GENERATION])

    async def _generations(self, keys: list[str]) -> list[str]:
        """The current generation under each key, in one round trip when they exist."""
        found = await self._cache.get_many(keys=keys)
        missing = [key for key in keys if key not in found]
        if missing:
            # none yet (or evicted): start them; where another reader started one first, theirs wins
            await self._cache.add_many(items={k: _token().encode() for k in missing}, ttl_seconds=TTL_SECONDS)
            found |= await self._cache.get_many(keys=missing)
        # a cache that keeps nothing (down, or full): a token of our own, so nothing is cached
        return [found[key].decode() if key in found else f"uncached-{_token()}" for key in keys]

    async def _remember(self, key: str, authors: Sequence[UserId]) -> None:
        await self._cache.add_many(items={key: orjson.dumps(list(authors))}, ttl_seconds=TTL_SECONDS)


def _token() -> str:
    return secrets.token_hex(8)


def _decode(data: bytes) -> list[UserId]:
    authors: list[UserId] = orjson.loads(data)  # kept as the id strings: no per-id conversion
    return authors
