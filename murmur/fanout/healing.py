"""Reads that heal: a materialised timeline found wrong is repaired before it is served.

Fan-out repairs a timeline when it removes from it (repair.py), and a task that fails is
retried; but a task can run out of retries (dead-lettered), or a write can be lost to a
fault nobody saw. So a first page, and a page that reaches the end of a stored timeline
before the cap, check the part of the timeline they read against the truth, at most
once per CHECK_EVERY_SECONDS per owner and process:

- a recorded shortfall is refilled;
- entries the truth no longer backs (a deleted post, an author no longer followed) are
  taken out and the timeline repaired (the repair policy's re-check);
- if a pushed post of the owner or someone they follow belongs in that part and is not
  there, the timeline is rebuilt. Posts younger than FANOUT_GRACE_SECONDS do not count:
  their fan-out may still be on its way, and a rebuild for every reader of a celebrity
  mid-fan-out would cost far more than it heals.

Finding what is wrong reads the owner's sources as a pull read does (sources.py, whose
cached lists no follow change leaves stale in the process that made it); a stale list
could only make a check miss something until the next one, never change a timeline:
every repair (refill, re-check, rebuild) reads the graph itself. If healing fails, the
page is answered from the truth (feed.py), and the owner is not marked checked, so the
next read tries again. The check costs about one pull read (bench.reads: "first page +
heal check"), paid once per CHECK_EVERY_SECONDS per reader and process.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from murmur.domain import Delivery, UserId, id_time
from murmur.fanout.repair import TimelineRepair
from murmur.fanout.sources import Sources
from murmur.metrics import TIMELINES_HEALED
from murmur.storage.base import PostStore, TimelineStore

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 300.0
FANOUT_GRACE_SECONDS = 300.0
_REMEMBERED = 100_000


class TimelineHealing:
    def __init__(
        self,
        *,
        posts: PostStore,
        sources: Sources,
        timelines: TimelineStore,
        repair: TimelineRepair,
        enabled: bool = True,
    ) -> None:
        # posts and timelines from the stores themselves; sources as a pull read has them
        self._posts = posts
        self._sources = sources
        self._timelines = timelines
        self._repair = repair
        self.check_every = CHECK_EVERY_SECONDS
        self.fanout_grace = timedelta(seconds=FANOUT_GRACE_SECONDS)
        self.enabled = enabled  # tests of fan-out itself turn it off: healing would hide its mistakes
        self._checked: OrderedDict[UserId, float] = OrderedDict()

    def due(self, owner: UserId) -> bool:
        """Whether owner's timeline was not checked by this process lately."""
        checked = self._checked.get(owner)
        return self.enabled and (checked is None or time.monotonic() - checked >= self.check_every)

    async def heal(self, owner: UserId, *, depth: int) -> bool:
        """Bring the newest `depth` entries of owner's timeline up to the truth; True if
        anything had to change. Marked checked only once it has worked."""
        changed = False
        shortfall = (await self._timelines.shortfall(owners=[owner])).get(owner)
        if shortfall is not None:
            await self._repair.refill(owner, shortfall)
            changed = self._healed(owner, "shortfall")
        depth = min(max(depth, 1), self._timelines.cap)
        stored = await self._timelines.timeline(owner=owner, before=None, limit=depth)
        if await self._repair.recheck([owner], stored):
            await self._repair.repair([owner])
            changed = self._healed(owner, "unbacked")
            stored = await self._timelines.timeline(owner=owner, before=None, limit=depth)
        authors = await self._sources.of(owner)
        due = await self._posts.recent_posts(
            author_ids=authors, before=None, limit=depth, delivery=Delivery.PUSHED
        )
        held = {entry.post_id for entry in stored}
        settled = datetime.now(UTC) - self.fanout_grace
        if any(post.id not in held and id_time(post.id) < settled for post in due):
            await self._repair.rebuild(owner)
            changed = self._healed(owner, "missing")
        self._checked[owner] = time.monotonic()
        self._checked.move_to_end(owner)
        if len(self._checked) > _REMEMBERED:
            self._checked.popitem(last=False)
        return changed

    def _healed(self, owner: UserId, why: str) -> bool:
        log.warning("the timeline of %s was wrong (%s); healed on read", owner, why)
        TIMELINES_HEALED.labels(why).inc()
        return True
