"""The feed operations the API calls: posting, deleting, following, and reading timelines.

Every write that must reach followers leaves a fan-out task in the outbox first: posts
and deletes in the same atomic write as the change, follow changes just before the
graph changes (the task reconciles with the graph when it runs, so a task for a change
that never happened changes nothing). The task is published at once and, if that
fails or the process dies first, by the outbox relay, which claims its rows so relays
in many processes never publish one twice at the same time.

A follow's task must not run before its graph write lands, or it reconciles with the
old graph and does nothing. So its row is saved held from relays for longer than a
graph write may take (the write is abandoned after GRAPH_WRITE_SECONDS); the API
publishes it itself once the write is done, and a relay only after the hold (the API
died). The API's send and a relay's carry different dedup keys: SQS FIFO remembers a
key for 5 minutes even after its message is handled, and would drop the API's send
if an early relayed copy had used the same key.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from murmur.domain import (
    CannotFollowSelf,
    Delivery,
    IdGenerator,
    IdTaken,
    Limits,
    NotAuthenticated,
    NotFound,
    NotPostAuthor,
    Post,
    PostId,
    UserId,
    id_time,
)
from murmur.events import codec
from murmur.fanout.base import FanoutStrategy
from murmur.fanout.healing import TimelineHealing
from murmur.fanout.inactivity import Inactivity
from murmur.fanout.pull import PullStrategy
from murmur.fanout.repair import TimelineRepair
from murmur.fanout.sources import Sources
from murmur.metrics import OUTBOX_RELAYED
from murmur.storage.base import OutboxMessage, Outgoing
from murmur.storage.bundle import Backends
from murmur.text import TextField, clean_text

log = logging.getLogger(__name__)

# a graph write is abandoned after this; a follow's outbox row is held from relays far longer
GRAPH_WRITE_SECONDS = 30.0
FOLLOW_HELD_SECONDS = 4 * GRAPH_WRITE_SECONDS
ID_ATTEMPTS = 3  # a new id clashes only if two processes share a node; a fresh id settles it
RELAY_LEASE_SECONDS = 30.0  # a relay that dies holding rows frees them after this


@dataclass(frozen=True, slots=True)
class TimelinePage:
    post_ids: list[PostId]
    # position of the first post in the whole timeline, so later pages respect the cap
    start: int
    has_next: bool


def relayed_key(outbox_id: str) -> str:
    """A relay's dedup key for an outbox message: never the one the API's own send used."""
    return f"{outbox_id}:relayed"


class Feed:
    def __init__(
        self,
        *,
        backends: Backends,
        strategy: FanoutStrategy,
        sources: Sources,
        repair: TimelineRepair,
        ids: IdGenerator,
        limits: Limits,
        cap: int,
        inactivity: Inactivity,
        healing: TimelineHealing,
    ) -> None:
        self._b = backends
        self.healing = healing
        self._truth = PullStrategy(sources=sources, posts=backends.posts)  # when healing fails
        self.strategy = strategy
        self._sources = sources
        self._repair = repair
        self._ids = ids
        self._limits = limits
        self.cap = cap
        self.inactivity = inactivity

    async def create_post(self, *, author: UserId, body: str) -> Post:
        text = clean_text(
            body, TextField(name="body", label="A post", max_length=self._limits.body_max, multiline=True)
        )
        await self._require_account(author)
        delivery = await self.strategy.delivery_for(author_id=author)
        first_pulled = delivery is Delivery.PULLED and not await self._b.posts.pulled_authors(
            author_ids=[author]
        )
        for attempt in range(ID_ATTEMPTS):
            post_id = PostId(self._ids.next_id())
            post = Post(
                id=post_id, author_id=author, body=text, created_at=id_time(post_id), delivery=delivery
            )
            outbox = OutboxMessage(
                id=f"{post_id}:created", body=codec.post_created(post_id, author, delivery)
            )
            try:
                await self._b.posts.create_post(post=post, outbox=outbox)
                break
            except IdTaken:
                if attempt == ID_ATTEMPTS - 1:
                    raise
        if first_pulled:  # hybrid readers who follow this author must now merge their posts in
            await self._sources.pulled_author_added()
        await self._publish(outbox)
        return post

    async def delete_post(self, *, viewer: UserId, post_id: PostId) -> PostId:
        post = (await self._b.posts.posts_by_id(ids=[post_id])).get(post_id)
        if post is None:
            raise NotFound("post", post_id)
        if post.author_id != viewer:
            raise NotPostAuthor()
        outbox = OutboxMessage(
            id=f"{post_id}:deleted", body=codec.post_deleted(post_id, post.author_id, post.delivery)
        )
        if await self._b.posts.delete_post(post_id=post_id, outbox=outbox) is None:
            raise NotFound("post", post_id)  # deleted by a concurrent request
        await self._publish(outbox)
        return post_id

    async def follow(self, *, viewer: UserId, target: UserId) -> None:
        await self._change_following(viewer, target, follow=True)

    async def unfollow(self, *, viewer: UserId, target: UserId) -> None:
        await self._change_following(viewer, target, follow=False)

    async def _change_following(self, viewer: UserId, target: UserId, *, follow: bool) -> None:
        await self._check_target(viewer, target)
        outbox = OutboxMessage(id=f"follow:{uuid.uuid4().hex}", body=codec.follow_changed(viewer, target))
        await self._b.posts.save_outbox(message=outbox, held_seconds=FOLLOW_HELD_SECONDS)
        async with asyncio.timeout(GRAPH_WRITE_SECONDS):
            if follow:
                await self._b.graph.follow(follower=viewer, followee=target)
            else:
                await self._b.graph.unfollow(follower=viewer, followee=target)
        await self._sources.following_changed(viewer)  # this viewer's next read sees the change
        await self._publish(outbox)

    async def home_timeline(
        self, *, viewer: UserId, after: PostId | None, start: int, first: int
    ) -> TimelinePage:
        """A page of the viewer's home timeline: `first` posts after the cursor post,
        which sits at position `start` - 1; the timeline ends at the cap."""
        if after is None:
            await self._returning(viewer)
        if start >= self.cap:  # the timeline ends at the cap
            return TimelinePage(post_ids=[], start=start, has_next=False)
        # first: 0 still reads one entry: hasNextPage says whether the timeline has any
        limit = min(first, self.cap - start)
        post_ids = await self.strategy.read(viewer=viewer, before=after, limit=limit + 1)
        reached_end = len(post_ids) <= limit and start + len(post_ids) < self.cap
        if after is None or reached_end:  # the top, or the end: where a wrong timeline shows
            depth = self.cap if reached_end else limit
            post_ids = await self._healed(viewer, after, limit + 1, post_ids, depth=depth)
        has_next = len(post_ids) > limit and start + limit < self.cap
        return TimelinePage(post_ids=post_ids[:limit], start=start, has_next=has_next)

    async def _healed(
        self, viewer: UserId, after: PostId | None, limit: int, read: list[PostId], *, depth: int
    ) -> list[PostId]:
        """The page, after healing the timeline (healing.py) if it was wrong."""
        if not (self.strategy.materialises and self.healing.due(viewer)):
            return read
        try:
            if not await self.healing.heal(viewer, depth=depth):
                return read
            return await self.strategy.read(viewer=viewer, before=after, limit=limit)
        except Exception:
            log.warning("healing the timeline of %s failed; answering from the truth", viewer, exc_info=True)
            return await self._truth.read(viewer=viewer, before=after, limit=limit)

    async def user_posts(
        self, *, author: UserId, before: PostId | None, first: int
    ) -> tuple[list[Post], bool]:
        posts = await self._b.posts.recent_posts(author_ids=[author], before=before, limit=first + 1)
        return posts[:first], len(posts) > first

    async def relay_outbox(self, *, older_than_seconds: float, limit: int = 100) -> int:
        """Publish outbox messages whose first publish failed or never happened (a crash)."""
        claimed = await self._b.posts.claim_outbox(
            older_than_seconds=older_than_seconds, limit=limit, lease_seconds=RELAY_LEASE_SECONDS
        )
        if claimed:
            await self._b.queue.send(
                messages=[Outgoing(m.body, dedup_key=relayed_key(m.id)) for m in claimed]
            )
            await self._b.posts.outbox_published(ids=[message.id for message in claimed])
            OUTBOX_RELAYED.inc(len(claimed))
        return len(claimed)

    async def _publish(self, outbox: OutboxMessage) -> None:
        try:
            await self._b.queue.send(messages=[Outgoing(outbox.body, dedup_key=outbox.id)])
            await self._b.posts.outbox_published(ids=[outbox.id])
        except Exception:
            # the write is saved; the relay publishes the message later
            log.warning("publishing %s failed; the outbox relay will retry", outbox.id, exc_info=True)

    async def _returning(self, viewer: UserId) -> None:
        """Note the viewer's read; a viewer push may have skipped (inactivity.py) gets their
        timeline rebuilt before this read."""
        await self.inactivity.returning(viewer, self._repair.rebuild if self.strategy.materialises else None)

    async def _check_target(self, viewer: UserId, target: UserId) -> None:
        if target == viewer:
            raise CannotFollowSelf()
        ids = [viewer, target] if target.isdigit() else [viewer]
        found = await self._b.users.users_by_id(ids=ids)
        if viewer not in found:
            raise NotAuthenticated("Your account no longer exists.")
        if target not in found:
            raise NotFound("user", target)

    async def _require_account(self, user_id: UserId) -> None:
        """A valid token can outlive its account (a wiped store under the same secret)."""
        if user_id not in await self._b.users.users_by_id(ids=[user_id]):
            raise NotAuthenticated("Your account no longer exists.")
