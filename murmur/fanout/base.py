"""The strategy interface and what the strategies share."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol

from murmur.domain import Delivery, PostId, UserId, id_key
from murmur.settings import Strategy
from murmur.storage.base import FollowGraph

FOLLOWING_PAGE = 1000


class FanoutStrategy(Protocol):
    name: Strategy
    # whether workers keep materialised timelines (push and hybrid do)
    materialises: bool

    async def delivery_for(self, *, author_id: UserId) -> Delivery:
        """How a new post by this author reaches followers."""

    async def read(self, *, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        """The viewer's home timeline, newest first, older than `before` when given."""


async def sources(graph: FollowGraph, user_id: UserId) -> list[UserId]:
    """The authors whose posts make up a home timeline: the user and everyone they follow."""
    authors = [user_id]
    cursor: str | None = None
    while True:
        page = await graph.following(user_id=user_id, after=cursor, limit=FOLLOWING_PAGE)
        authors.extend(page.items)
        if page.next_cursor is None:
            return authors
        cursor = page.next_cursor


def merge_newest(limit: int, *streams: Iterable[PostId]) -> list[PostId]:
    """Merge newest-first id lists into one, without duplicates, keeping `limit`."""
    merged: list[PostId] = []
    seen: set[PostId] = set()
    for post_id in heapq.merge(*streams, key=id_key, reverse=True):
        if post_id not in seen:
            seen.add(post_id)
            merged.append(post_id)
            if len(merged) == limit:
                break
    return merged
