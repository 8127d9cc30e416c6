"""Push for most authors, pull for celebrities.

An author with more followers than the threshold would cost a write per follower
per post; their posts are PULLED instead and merged in at read time, from the
authors among the viewer's sources who have written pulled posts (a few
celebrities, cached per viewer: see sources.py), not from everyone they follow.
"""

from __future__ import annotations

import asyncio

from murmur.domain import Delivery, PostId, UserId
from murmur.fanout.base import merge_newest
from murmur.fanout.sources import Sources
from murmur.settings import Strategy
from murmur.storage.base import FollowGraph, PostStore, TimelineStore


class HybridStrategy:
    name = Strategy.HYBRID
    materialises = True

    def __init__(
        self,
        *,
        graph: FollowGraph,
        posts: PostStore,
        timelines: TimelineStore,
        sources: Sources,
        threshold: int,
    ) -> None:
        self._graph = graph
        self._posts = posts
        self._timelines = timelines
        self._sources = sources
        self._threshold = threshold

    async def delivery_for(self, *, author_id: UserId) -> Delivery:
        counts = await self._graph.follow_counts(user_ids=[author_id])
        followers = counts[author_id].followers if author_id in counts else 0
        return Delivery.PULLED if followers > self._threshold else Delivery.PUSHED

    async def read(self, *, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        pushed, pulled = await asyncio.gather(
            self._timelines.timeline(owner=viewer, before=before, limit=limit),
            self._pulled(viewer, before, limit),
        )
        return merge_newest(limit, (entry.post_id for entry in pushed), pulled)

    async def _pulled(self, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        authors = await self._sources.pulled_of(viewer)
        if not authors:
            return []
        posts = await self._posts.recent_posts(
            author_ids=authors, before=before, limit=limit, delivery=Delivery.PULLED
        )
        return [post.id for post in posts]
