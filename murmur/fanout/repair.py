"""The repair policy: keeping a materialised timeline equal to what pull would compute,
whatever races it. Fan-out (planner.py, chunks.py, follows.py) writes; this module alone
decides what is checked after a write and when a timeline is repaired.

Fan-out reads the truth (posts, the graph) and then writes timelines; between the two,
another worker may delete the post or the owner may unfollow its author, and that
worker's removal may land before this write. So every write that adds entries is
followed by one re-check against the truth (`recheck`): an entry whose post is gone, or
whose author the owner no longer follows, is removed again. The argument: the change in
the truth happened either before the re-check (which sees it) or after the write (so
the change's own task, which starts after it, removes the entry).

A removal can leave a timeline short of its cap while older posts belong in it; the
store reports that (`shortfall`) and `refill` fetches exactly the missing posts, which
are all older than the timeline's floor. Every removal goes through `remove_post` or
`remove_author` here, which repair every timeline the removal targets whatever it
removed this time: a task retried after its refill failed removes nothing, and the
shortfall its first attempt recorded must still be refilled. Refills race too (a
concurrent removal, another refill), so they loop until the store says nothing is missing.
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

    async def remove_post(self, owners: Sequence[UserId], post_id: PostId) -> None:
        """Take the post out of these timelines and repair each of them."""
        if owners:
            await self._timelines.remove_post(owners=owners, post_id=post_id)
            await self.repair(owners)

    async def remove_author(self, owner: UserId, author: UserId) -> None:
        """Take the author's posts out of owner's timeline (an unfollow) and repair it."""
        await self._timelines.remove_author(owner=owner, author_id=author)
        await self.repair([owner])

    async def added(
        self,
        owners: Sequence[UserId],
        entries: Sequence[TimelineEntry],
        *,
        unfollows_before: int | None = None,
    ) -> None:
        """After entries were added to owners' timelines: the re-check, then repair of every
        timeline it took entries out of."""
        await self.repair(await self.recheck(owners, entries, unfollows_before=unfollows_before))

    async def recheck(
        self,
        owners: Sequence[UserId],
        entries: Sequence[TimelineEntry],
        *,
        unfollows_before: int | None = None,
    ) -> list[UserId]:
        """Take out of owners' timelines what the truth no longer backs; the owners it took
        entries from. Either one owner with many entries (a backfill, a refill, a rebuild)
        or many owners with one entry (a chunk): for a chunk, `unfollows_before` is the
        author's unfollow count read before its followers, and an unchanged count spares
        the follower check."""
        if not owners or not entries:
            return []
        existing = await self._posts.posts_by_id(ids=[e.post_id for e in entries])
        stale: dict[PostId, list[UserId]] = {
            e.post_id: list(owners) for e in entries if e.post_id not in existing
        }
        live = [e for e in entries if e.post_id in existing]
        if len(owners) == 1:
            (owner,) = owners
            authors = list({e.author_id for e in live} - {owner})
            followed = await self._graph.follows(follower=owner, followees=authors) if authors else set()
            for entry in live:
                if entry.author_id != owner and entry.author_id not in followed:
                    stale[entry.post_id] = [owner]
        else:
            for entry in live:  # a chunk: one entry
                author = entry.author_id
                if unfollows_before is not None:
                    counts = await self._graph.follow_counts(user_ids=[author])
                    if counts[author].unfollows == unfollows_before:
                        continue  # nobody unfollowed the author since its followers were read
                still = await self._graph.followers_among(user_id=author, candidates=owners)
                gone = [owner for owner in owners if owner not in still and owner != author]
                if gone:
                    stale[entry.post_id] = gone
        for post_id, holders in stale.items():
            await self._timelines.remove_post(owners=holders, post_id=post_id)
        return list(dict.fromkeys(owner for holders in stale.values() for owner in holders))

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
            await self.recheck([owner], entries)  # this loop looks for what it left short
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
        await self.recheck([owner], entries)
        await self.repair([owner])  # a rebuild's floor may leave it short, re-checked or not
