"""Fan-out on write: every post is copied into every follower's timeline; reads are one lookup."""

from __future__ import annotations

from murmur.domain import Delivery, PostId, UserId
from murmur.settings import Strategy
from murmur.storage.base import TimelineStore


class PushStrategy:
    name = Strategy.PUSH
    materialises = True

    def __init__(self, *, timelines: TimelineStore) -> None:
        self._timelines = timelines

    async def delivery_for(self, *, author_id: UserId) -> Delivery:
        return Delivery.PUSHED

    async def read(self, *, viewer: UserId, before: PostId | None, limit: int) -> list[PostId]:
        entries = await self._timelines.timeline(owner=viewer, before=before, limit=limit)
        return [entry.post_id for entry in entries]
