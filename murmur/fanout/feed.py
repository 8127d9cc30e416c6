"""The feed operations the API calls: posting, deleting, following, and reading timelines.

Writes that must reach followers leave a fan-out task: posts and deletes through
the post store's outbox (saved in the same write, published right after and
again by the relay if that fails), follows straight onto the queue (the task
reconciles with the graph, so following again repairs a lost one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from murmur.domain import (
    CannotFollowSelf,
    IdGenerator,
    InvalidInput,
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
from murmur.metrics import OUTBOX_RELAYED
from murmur.storage.base import OutboxMessage
from murmur.storage.bundle import Backends

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TimelinePage:
    post_ids: list[PostId]
    # position of the first post in the whole timeline, so later pages respect the cap
    start: int
    has_next: bool


class Feed:
    def __init__(
        self, *, backends: Backends, strategy: FanoutStrategy, ids: IdGenerator, limits: Limits, cap: int
    ) -> None:
        self._b = backends
        self.strategy = strategy
        self._ids = ids
        self._limits = limits
        self.cap = cap

    async def create_post(self, *, author: UserId, body: str) -> Post:
        text = body.strip()
        if not text:
            raise InvalidInput("A post cannot be empty.", field="body")
        if len(text) > self._limits.body_max:
            raise InvalidInput(f"A post is at most {self._limits.body_max} characters.", field="body")
        await self._require_account(author)
        delivery = await self.strategy.delivery_for(author_id=author)
        post_id = PostId(self._ids.next_id())
        post = Post(id=post_id, author_id=author, body=text, created_at=id_time(post_id), delivery=delivery)
        outbox = OutboxMessage(id=f"{post_id}:created", body=codec.post_created(post_id, author, delivery))
        await self._b.posts.create_post(post=post, outbox=outbox)
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
        await self._check_target(viewer, target)
        await self._b.graph.follow(follower=viewer, followee=target)
        await self._b.queue.send(bodies=[codec.follow_changed(viewer, target)])

    async def unfollow(self, *, viewer: UserId, target: UserId) -> None:
        await self._check_target(viewer, target)
        await self._b.graph.unfollow(follower=viewer, followee=target)
        await self._b.queue.send(bodies=[codec.follow_changed(viewer, target)])

    async def home_timeline(
        self, *, viewer: UserId, after: PostId | None, start: int, first: int
    ) -> TimelinePage:
        """A page of the viewer's home timeline: `first` posts after the cursor post,
        which sits at position `start` - 1; the timeline ends at the cap."""
        limit = min(first, self.cap - start)
        if limit <= 0:
            return TimelinePage(post_ids=[], start=start, has_next=False)
        post_ids = await self.strategy.read(viewer=viewer, before=after, limit=limit + 1)
        has_next = len(post_ids) > limit and start + limit < self.cap
        return TimelinePage(post_ids=post_ids[:limit], start=start, has_next=has_next)

    async def user_posts(
        self, *, author: UserId, before: PostId | None, first: int
    ) -> tuple[list[Post], bool]:
        posts = await self._b.posts.recent_posts(author_ids=[author], before=before, limit=first + 1)
        return posts[:first], len(posts) > first

    async def relay_outbox(self, *, older_than_seconds: float, limit: int = 100) -> int:
        """Publish outbox messages whose first publish failed or never happened (a crash)."""
        pending = await self._b.posts.outbox_pending(older_than_seconds=older_than_seconds, limit=limit)
        if pending:
            await self._b.queue.send(bodies=[message.body for message in pending])
            await self._b.posts.outbox_published(ids=[message.id for message in pending])
            OUTBOX_RELAYED.inc(len(pending))
        return len(pending)

    async def _publish(self, outbox: OutboxMessage) -> None:
        try:
            await self._b.queue.send(bodies=[outbox.body])
            await self._b.posts.outbox_published(ids=[outbox.id])
        except Exception:
            # the write is saved; the relay publishes the message later
            log.warning("publishing %s failed; the outbox relay will retry", outbox.id, exc_info=True)

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
