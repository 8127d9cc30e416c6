"""A follow change reaches the follower's timeline: a backfill, or the author's posts removed.

The task reconciles with the graph when it runs, so a task for a change that never
happened, or that was undone since, does what the graph says now.
"""

from __future__ import annotations

from murmur.domain import Delivery, UserId
from murmur.events import codec
from murmur.fanout.inactivity import Inactivity
from murmur.fanout.repair import TimelineRepair, entries_of
from murmur.fanout.sources import Sources
from murmur.metrics import DELIVERIES
from murmur.storage.bundle import Backends


class FollowHandler:
    def __init__(
        self,
        *,
        backends: Backends,
        repair: TimelineRepair,
        inactivity: Inactivity,
        sources: Sources,
        materialises: bool,
        strategy_name: str,
    ) -> None:
        self._b = backends  # the sources of truth: nothing here reads a cache
        self._repair = repair
        self._inactivity = inactivity
        self._sources = sources
        self._materialises = materialises
        self._deliveries = DELIVERIES.labels(strategy_name)

    async def changed(self, follower: UserId, followee: UserId) -> None:
        b = self._b
        if self._materialises:
            if await b.graph.follows(follower=follower, followees=[followee]):
                # an inactive one is rebuilt when they return
                if await self._inactivity.active_among([follower]):
                    await self._backfill(follower, followee)
            else:
                await self._repair.remove_author(follower, followee)
        await self._sources.following_changed(follower)
        await b.bus.publish(
            channel=codec.following_channel(follower), message=codec.following_changed(follower)
        )

    async def _backfill(self, follower: UserId, followee: UserId) -> None:
        cap = self._b.timelines.cap
        posts = await self._b.posts.recent_posts(
            author_ids=[followee], before=None, limit=cap, delivery=Delivery.PUSHED
        )
        entries = entries_of((p.id, p.author_id) for p in posts)
        complete_above = posts[-1].id if len(posts) == cap else None
        await self._b.timelines.backfill(owner=follower, entries=entries, complete_above=complete_above)
        self._deliveries.inc(len(entries))
        await self._repair.recheck([follower], entries)
        await self._repair.repair([follower])  # re-checked, or a raised floor, may leave it short
