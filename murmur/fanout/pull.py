"""Fan-out on read: nothing is copied; a read merges the newest posts of everyone followed."""

from __future__ import annotations

from murmur.domain import Delivery, PostId, UserId
from murmur.fanout.sources import Sources
from murmur.settings import Strategy
from murmur.storage.base import PostStore


class PullStrategy:
    name = Strategy.PULL
    materialises = False

    def __init__(self, *, sources: Sources, posts: PostStore) -> None:
        self._sources = sources
        self._posts = posts

    async def delivery_for(self, *, author_id: UserId) -> Delivery:
        return Delivery.PULLED

    async def read(self, *, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        authors = await self._sources.of(viewer)
        posts = await self._posts.recent_posts(author_ids=authors, before=before, limit=limit)
        return [post.id for post in posts]
