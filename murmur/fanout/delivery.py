"""What the workers do with a fan-out task, under every strategy.

Each handler reads the truth (the post, the graph) when it runs, so handling a
task twice, or late, converges on the same timelines: delivery is at least once,
and every write is keyed by post id.
"""

from __future__ import annotations

import time

from murmur.domain import Delivery, PostId, TimelineEntry, UserId, id_time
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.fanout.base import FanoutStrategy, sources
from murmur.metrics import DELIVERIES, FANOUT_LAG
from murmur.storage.bundle import Backends


class FanoutHandler:
    def __init__(self, *, backends: Backends, strategy: FanoutStrategy, followers_page_size: int) -> None:
        self._backends = backends
        self._strategy = strategy
        self._page_size = followers_page_size
        self._deliveries = DELIVERIES.labels(strategy.name.value)

    async def handle(self, body: bytes) -> None:
        """Apply one task; raises UndecodableMessage for poison, store errors otherwise."""
        task = codec.decode_task(body)
        match task.WhichOneof("task"):
            case "post_created":
                await self._post_created(task.post_created)
            case "post_deleted":
                await self._post_deleted(task.post_deleted)
            case "follow_changed":
                await self._follow_changed(task.follow_changed)

    async def _post_created(self, task: pb.PostCreated) -> None:
        b = self._backends
        post_id, author_id = PostId(task.post_id), UserId(task.author_id)
        if post_id not in await b.posts.posts_by_id(ids=[post_id]):
            return  # deleted before its fan-out finished: the delete task cleans up
        if self._materialised(task.delivery):
            entry = TimelineEntry(post_id=post_id, author_id=author_id)
            owners, next_cursor = await self._followers_page(author_id, task.followers_cursor)
            await b.timelines.add_to_timelines(owners=owners, entry=entry)
            self._deliveries.inc(len(owners))
            if next_cursor is not None:
                await b.queue.send(
                    bodies=[codec.post_created(post_id, author_id, Delivery.PUSHED, next_cursor)]
                )
                return
        FANOUT_LAG.observe(max(0.0, time.time() - id_time(post_id).timestamp()))
        event = codec.timeline_event(pb.TimelineEvent.KIND_ADDED, post_id, author_id)
        await b.bus.publish(channel=codec.author_channel(author_id), message=event)

    async def _post_deleted(self, task: pb.PostDeleted) -> None:
        b = self._backends
        post_id, author_id = PostId(task.post_id), UserId(task.author_id)
        if self._materialised(task.delivery):
            owners, next_cursor = await self._followers_page(author_id, task.followers_cursor)
            held = await b.timelines.remove_post(owners=owners, post_id=post_id)
            if held:
                # a timeline that was full may hide older posts that now belong in it
                sizes = await b.timelines.timeline_sizes(owners=held)
                for owner in held:
                    if sizes.get(owner, 0) == b.timelines.cap - 1:
                        await self.refill(owner)
            if next_cursor is not None:
                await b.queue.send(
                    bodies=[codec.post_deleted(post_id, author_id, Delivery.PUSHED, next_cursor)]
                )
                return
        event = codec.timeline_event(pb.TimelineEvent.KIND_REMOVED, post_id, author_id)
        await b.bus.publish(channel=codec.author_channel(author_id), message=event)

    async def _follow_changed(self, task: pb.FollowChanged) -> None:
        b = self._backends
        follower, followee = UserId(task.follower_id), UserId(task.followee_id)
        if self._strategy.materialises:
            if await b.graph.follows(follower=follower, followees=[followee]):
                posts = await b.posts.recent_posts(
                    author_ids=[followee], before=None, limit=b.timelines.cap, delivery=Delivery.PUSHED
                )
                entries = [TimelineEntry(post_id=p.id, author_id=p.author_id) for p in posts]
                await b.timelines.add_entries(owner=follower, entries=entries)
                self._deliveries.inc(len(entries))
            elif await b.timelines.remove_author(owner=follower, author_id=followee):
                await self.refill(follower)
        await b.bus.publish(
            channel=codec.following_channel(follower), message=codec.following_changed(follower)
        )

    async def refill(self, owner: UserId) -> None:
        """Top a timeline left short by a removal back up from its sources' older posts,
        so it again holds exactly what pull would compute."""
        b = self._backends
        entries = await b.timelines.timeline(owner=owner, before=None, limit=b.timelines.cap)
        missing = b.timelines.cap - len(entries)
        if missing <= 0:
            return
        oldest = entries[-1].post_id if entries else None
        authors = await sources(b.graph, owner)
        posts = await b.posts.recent_posts(
            author_ids=authors, before=oldest, limit=missing, delivery=Delivery.PUSHED
        )
        if posts:
            await b.timelines.add_entries(
                owner=owner, entries=[TimelineEntry(post_id=p.id, author_id=p.author_id) for p in posts]
            )

    async def rebuild(self, owner: UserId) -> None:
        """Recompute a materialised timeline from scratch (after a strategy change)."""
        b = self._backends
        authors = await sources(b.graph, owner)
        posts = await b.posts.recent_posts(
            author_ids=authors, before=None, limit=b.timelines.cap, delivery=Delivery.PUSHED
        )
        await b.timelines.replace(
            owner=owner, entries=[TimelineEntry(post_id=p.id, author_id=p.author_id) for p in posts]
        )

    def _materialised(self, delivery: pb.Delivery) -> bool:
        return self._strategy.materialises and codec.delivery_from_pb(delivery) is Delivery.PUSHED

    async def _followers_page(self, author_id: UserId, cursor: str) -> tuple[list[UserId], str | None]:
        """One page of an author's followers; the first page also holds the author."""
        page = await self._backends.graph.followers(
            user_id=author_id, after=cursor or None, limit=self._page_size
        )
        owners = page.items if cursor else [author_id, *page.items]
        return owners, page.next_cursor
