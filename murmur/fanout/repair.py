"""Keeping a materialised timeline equal to what pull would compute, whatever races it.

Fan-out reads the truth (posts, the graph) and then writes timelines; between the two,
another worker may delete the post or the owner may unfollow its author, and that
worker's removal may land before this write. So every write that adds entries is
followed by a re-check against the truth (`confirm`): an entry whose post is gone, or
whose author the owner no longer follows, is removed again. The argument: the change in
the truth happened either before the re-check (which sees it) or after the write (so
the change's own task, which starts after it, removes the entry).

A removal can leave a timeline short of its cap while older posts belong in it; the
store reports that (`shortfall`) and `refill` fetches exactly the missing posts, which
are all older than the timeline's floor. Refills race too (a concurrent removal, another
refill), so they loop until the store says nothing is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from murmur.domain import Delivery, PostId, RetryableStoreError, TimelineEntry, UserId
from murmur.fanout.sources import followed_by
from murmur.storage.base import FollowGraph, PostStore, Shortfall, TimelineStore

# Each round either settles or was undone by a concurrent change whose own task also
# repairs; more rounds than this means heavy churn on one timeline: retry the task later.
MAX_ROUNDS = 8
CONCURRENCY = 16  # timelines repaired at once after a removal from many


def entries_of(posts: Iterable[tuple[PostId, UserId]]) -> list[TimelineEntry]:
    return [TimelineEntry(post_id=post, author_id=author) for post, author in posts]


class TimelineRepair:
    def __init__(self, *, posts: PostStore, graph: FollowGraph, timelines: TimelineStore) -> None:
        # posts and graph are the sources of truth, never a cache: they decide what exists. A
        # following list from a cache may be another process's stale copy, and a refill that
        # trusted it would move the floor past a post it never saw.
        self._posts = posts
        self._graph = graph
        self._timelines = timelines

    async def confirm(self, owner: UserId, entries: Sequence[TimelineEntry]) -> bool:
        """Remove the entries just added to owner's timeline that the truth no longer backs;
        True if any were removed (the caller repairs the timeline then)."""
        if not entries:
            return False
        existing = await self._posts.posts_by_id(ids=[e.post_id for e in entries])
        authors = {e.author_id for e in entries} - {owner}
        followed = await self._graph.follows(follower=owner, followees=list(authors)) if authors else set()
        stale = [
            e
            for e in entries
            if e.post_id not in existing or (e.author_id != owner and e.author_id not in followed)
        ]
        for entry in stale:
            await self._timelines.remove_post(owners=[owner], post_id=entry.post_id)
        return bool(stale)

    async def repair(self, owners: Sequence[UserId]) -> None:
        """Refill every one of these timelines that a removal left short."""
        if not owners:
            return
        short = await self._timelines.shortfall(owners=owners)
        if len(short) <= 1:  # the usual case (an unfollow, a follow, one holder): no tasks needed
            for owner, shortfall in short.items():
                await self.refill(owner, shortfall)
            return
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def refill(owner: UserId, shortfall: Shortfall) -> None:
            async with semaphore:
                await self.refill(owner, shortfall)

        await asyncio.gather(*(refill(owner, shortfall) for owner, shortfall in short.items()))

    async def refill(self, owner: UserId, shortfall: Shortfall | None) -> None:
        """Top owner's timeline up with the posts it lacks, until the store says none."""
        for _ in range(MAX_ROUNDS):
            if shortfall is None:
                return
            authors = await followed_by(self._graph, owner)
            posts = await self._posts.recent_posts(
                author_ids=authors, before=shortfall.below, limit=shortfall.missing, delivery=Delivery.PUSHED
            )
            entries = entries_of((p.id, p.author_id) for p in posts)
            await self._timelines.refill(
                owner=owner, entries=entries, below=shortfall.below, wanted=shortfall.missing
            )
            await self.confirm(owner, entries)
            shortfall = (await self._timelines.shortfall(owners=[owner])).get(owner)
        raise RetryableStoreError(f"the timeline of {owner} kept changing while it was refilled")

    async def rebuild(self, owner: UserId) -> None:
        """Build owner's timeline afresh from the truth: it missed pushes (the owner was
        inactive) or never existed. Pushes that land meanwhile are kept (rebuild only adds)."""
        authors = await followed_by(self._graph, owner)
        posts = await self._posts.recent_posts(
            author_ids=authors, before=None, limit=self._timelines.cap, delivery=Delivery.PUSHED
        )
        entries = entries_of((p.id, p.author_id) for p in posts)
        await self._timelines.rebuild(owner=owner, entries=entries)
        await self.confirm(owner, entries)
        await self.repair([owner])
