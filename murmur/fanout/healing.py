"""Reads that heal: a materialised timeline found short is repaired before it is served.

Fan-out repairs a timeline when it removes from it (repair.py), and a task that fails is
retried; but a task can run out of retries (dead-lettered), or a write can be lost to a
fault nobody saw. So a read that reaches the end of a stored timeline before the cap
(the only read that can see a shortfall) checks it against the truth: a recorded
shortfall is refilled; otherwise, if the posts the owner should have (the newest `cap`
pushed posts of the owner and everyone they follow, read from the graph and the posts)
are not all stored, the timeline is rebuilt. If healing itself fails, that page is
answered from the truth (a pull) and the next read tries again. A full page (the usual
read of an active timeline) costs nothing more; a short one is checked at most once per
CHECK_EVERY_SECONDS per owner and process, so a small timeline read often is not pulled
on every read.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from murmur.domain import Delivery, UserId
from murmur.fanout.repair import TimelineRepair
from murmur.fanout.sources import followed_by
from murmur.storage.base import FollowGraph, PostStore, TimelineStore

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 60.0
_REMEMBERED = 100_000


class TimelineHealing:
    def __init__(
        self,
        *,
        posts: PostStore,
        graph: FollowGraph,
        timelines: TimelineStore,
        repair: TimelineRepair,
        enabled: bool = True,
    ) -> None:
        # the truth, never a cache: a stale list would make a healthy timeline look short
        self._posts = posts
        self._graph = graph
        self._timelines = timelines
        self._repair = repair
        self.check_every = CHECK_EVERY_SECONDS
        self.enabled = enabled  # tests of fan-out itself turn it off: healing would hide its mistakes
        self._checked: OrderedDict[UserId, float] = OrderedDict()

    def due(self, owner: UserId) -> bool:
        """Whether owner's timeline was not checked by this process lately."""
        checked = self._checked.get(owner)
        return self.enabled and (checked is None or time.monotonic() - checked >= self.check_every)

    async def heal(self, owner: UserId) -> bool:
        """Bring owner's timeline up to the truth; True if anything had to change."""
        self._checked[owner] = time.monotonic()
        self._checked.move_to_end(owner)
        if len(self._checked) > _REMEMBERED:
            self._checked.popitem(last=False)
        shortfall = (await self._timelines.shortfall(owners=[owner])).get(owner)
        if shortfall is not None:
            log.warning("timeline of %s found %d short of its floor; refilling", owner, shortfall.missing)
            await self._repair.refill(owner, shortfall)
            return True
        cap = self._timelines.cap
        authors = await followed_by(self._graph, owner)
        due = await self._posts.recent_posts(
            author_ids=authors, before=None, limit=cap, delivery=Delivery.PUSHED
        )
        stored = {
            entry.post_id for entry in await self._timelines.timeline(owner=owner, before=None, limit=cap)
        }
        missing = [post.id for post in due if post.id not in stored]
        if not missing:
            return False
        log.warning("timeline of %s lacked %d posts it should hold; rebuilding", owner, len(missing))
        await self._repair.rebuild(owner)
        return True
