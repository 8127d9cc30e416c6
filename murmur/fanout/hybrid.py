"""Push for most authors, pull for the few whose pushes would cost too much.

Which authors are pulled is a DeliveryPolicy's call (delivery_policy.py): more followers
than a threshold (Strategy.HYBRID), or Feeding Frenzy's cost model over measured read
and write rates (Strategy.COST_MODEL, which then records every read and post in its
meters). A pulled author's posts are merged in at read time, from the authors among the
viewer's sources who have written pulled posts (a few, cached per viewer: see
sources.py), not from everyone they follow.
"""

from __future__ import annotations

import asyncio

from murmur.domain import Delivery, PostId, UserId
from murmur.fanout.base import merge_newest
from murmur.fanout.delivery_policy import DeliveryPolicy
from murmur.fanout.rates import RateMeter
from murmur.fanout.sources import Sources
from murmur.settings import Strategy
from murmur.storage.base import PostStore, TimelineStore


class HybridStrategy:
    materialises = True

    def __init__(
        self,
        *,
        posts: PostStore,
        timelines: TimelineStore,
        sources: Sources,
        policy: DeliveryPolicy,
        name: Strategy = Strategy.HYBRID,
        meters: tuple[RateMeter, RateMeter] | None = None,  # (reads, writes) the policy uses
    ) -> None:
        self.name = name
        self._posts = posts
        self._timelines = timelines
        self._sources = sources
        self._policy = policy
        self._meters = meters

    async def delivery_for(self, *, author_id: UserId) -> Delivery:
        if self._meters is not None:
            self._meters[1].record(author_id)
        return await self._policy.decide(author_id)

    async def read(self, *, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        if self._meters is not None:
            self._meters[0].record(viewer)
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
