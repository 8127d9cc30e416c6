"""The strategy interface and what the strategies share."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Protocol

from murmur.domain import Delivery, PostId, UserId, id_key
from murmur.settings import Strategy


class FanoutStrategy(Protocol):
    name: Strategy
    # whether workers keep materialised timelines (push and hybrid do)
    materialises: bool

    async def delivery_for(self, *, author_id: UserId) -> Delivery:
        """How a new post by this author reaches followers."""

    async def read(self, *, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        """The viewer's home timeline, newest first, older than `before` when given."""


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
