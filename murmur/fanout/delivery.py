"""What the workers do with a fan-out task, under every strategy.

A post (or a delete) arrives as a *plan* task on the express lane. Planning reads the
post from the source of truth, delivers to the author's own timeline, and cuts the
author's followers into spans (FollowGraph.follower_spans). One span is handled there and
then; more are recorded in the fan-out ledger once (a planner that runs twice sends the
same plan) and become chunk tasks on the bulk lane, each with a dedup key, which any
number of workers handle in parallel. A chunk already marked done in the ledger is
skipped, so a redelivered chunk applies once; the worker that finishes the last chunk
publishes the live event.

Every handler reads the truth when it runs and writes idempotently, then re-checks
(repair.py), so handling a task twice, late, or at the same time as a conflicting one
converges on the timelines pull would compute.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from murmur.domain import Delivery, PostId, TimelineEntry, UserId, id_time
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.fanout.base import FanoutStrategy
from murmur.fanout.inactivity import Inactivity
from murmur.fanout.repair import TimelineRepair, entries_of
from murmur.fanout.sources import Sources
from murmur.metrics import CHUNK_SECONDS, DELIVERIES, DELIVERY_LAG, FANOUT_LAG
from murmur.storage.base import Outgoing
from murmur.storage.bundle import Backends

ADD, REMOVE = pb.CHUNK_OPERATION_ADD, pb.CHUNK_OPERATION_REMOVE
_OPERATION_NAMES = {ADD: "add", REMOVE: "remove"}
_EVENTS = {ADD: pb.TimelineEvent.KIND_ADDED, REMOVE: pb.TimelineEvent.KIND_REMOVED}


NO_FOLLOWERS = ""  # the one span of a fan-out to nobody but the author


def task_name(post_id: str, operation: pb.ChunkOperation) -> str:
    """The fan-out's name in the ledger, and the stem of its chunks' dedup keys."""
    return f"{post_id}:{_OPERATION_NAMES[operation]}"


class FanoutHandler:
    def __init__(
        self,
        *,
        backends: Backends,
        strategy: FanoutStrategy,
        sources: Sources,
        repair: TimelineRepair,
        followers_page_size: int,
        inactivity: Inactivity,
    ) -> None:
        # backends here are the sources of truth: users and posts are not read through a cache
        self._b = backends
        self._strategy = strategy
        self._sources = sources
        self.repair = repair
        self._page_size = followers_page_size
        self._inactivity = inactivity
        self._deliveries = DELIVERIES.labels(strategy.name.value)

    async def handle(self, body: bytes) -> None:
        """Apply one task; raises UndecodableMessage for poison, store errors otherwise."""
        task = codec.decode_task(body)
        match task.WhichOneof("task"):
            case "post_created":
                created = task.post_created
                await self._plan(ADD, PostId(created.post_id), UserId(created.author_id), created.delivery)
            case "post_deleted":
                deleted = task.post_deleted
                await self._plan(REMOVE, PostId(deleted.post_id), UserId(deleted.author_id), deleted.delivery)
            case "chunk":
                chunk = task.chunk
                await self._chunk(
                    chunk.operation,
                    PostId(chunk.post_id),
                    UserId(chunk.author_id),
                    index=chunk.index,
                    count=chunk.count,
                    span=chunk.span,
                )
            case "follow_changed":
                changed = task.follow_changed
                await self._follow_changed(UserId(changed.follower_id), UserId(changed.followee_id))

    # --- posts and deletes: plan, then chunks -------------------------------------------------

    async def _plan(
        self, operation: pb.ChunkOperation, post_id: PostId, author: UserId, delivery: pb.Delivery
    ) -> None:
        if operation == ADD:
            post = (await self._b.posts.posts_by_id(ids=[post_id])).get(post_id)
            if post is None:
                return  # deleted before its fan-out began: the delete's task cleans up
            materialised = self._materialised(post.delivery)
        else:
            materialised = self._materialised(codec.delivery_from_pb(delivery))
        if not materialised:  # pulled: readers merge it in; only the live event is due
            await self._announce(operation, post_id, author)
            return
        await self._apply([author], operation, post_id, author)
        spans = await self._b.graph.follower_spans(user_id=author, size=self._page_size)
        task = task_name(post_id, operation)
        # One span is handled in place, and recorded by its finish (one ledger write), unless
        # a plan is recorded already: a plan delivered again follows the recorded one,
        # whatever became of the followers meanwhile, so exactly one finish completes it.
        plan = await self._b.ledger.recorded(task=task) if len(spans) <= 1 else None
        if plan is None and len(spans) <= 1:
            first = spans[0] if spans else NO_FOLLOWERS
            await self._chunk(operation, post_id, author, index=0, count=1, span=first, record=[first])
            return
        if plan is None:
            plan = await self._b.ledger.plan(task=task, spans=spans)
        if len(plan) == 1:
            await self._chunk(operation, post_id, author, index=0, count=1, span=plan[0])
            return
        done = await self._b.ledger.done(task=task)
        await self._b.bulk_queue.send(
            messages=[
                Outgoing(
                    codec.chunk(post_id, author, operation, index=index, count=len(plan), span=span),
                    dedup_key=f"{task}:{index}",
                )
                for index, span in enumerate(plan)
                if index not in done
            ]
        )

    async def _chunk(
        self,
        operation: pb.ChunkOperation,
        post_id: PostId,
        author: UserId,
        *,
        index: int,
        count: int,
        span: str | None,
        record: Sequence[str] | None = None,
    ) -> None:
        """record: the plan to record with the finish (no plan was recorded: nothing is done)."""
        task = task_name(post_id, operation)
        if record is None and await self._b.ledger.is_done(task=task, chunk=index):
            return  # a redelivered chunk whose work is done
        started = time.monotonic()
        await self._apply_span(operation, post_id, author, span or None)
        completed = await self._b.ledger.finish(task=task, chunk=index, spans=record)
        CHUNK_SECONDS.observe(time.monotonic() - started)
        if completed:  # the ledger counts each chunk once against the recorded plan: one worker
            await self._announce(operation, post_id, author)

    async def _apply_span(
        self, operation: pb.ChunkOperation, post_id: PostId, author: UserId, span: str | None
    ) -> None:
        graph = self._b.graph
        # read before the followers: if it has not moved by the re-check, nobody unfollowed
        unfollows = (await graph.follow_counts(user_ids=[author]))[author].unfollows
        owners = await graph.followers_in(user_id=author, span=span) if span is not None else []
        if operation == ADD:
            owners = await self._inactivity.active_among(owners)
        await self._apply(owners, operation, post_id, author, unfollows_before=unfollows)

    async def _apply(
        self,
        owners: Sequence[UserId],
        operation: pb.ChunkOperation,
        post_id: PostId,
        author: UserId,
        *,
        unfollows_before: int | None = None,
    ) -> None:
        if not owners:
            return
        timelines = self._b.timelines
        if operation == REMOVE:
            await timelines.remove_post(owners=owners, post_id=post_id)
            # every owner the task targets, not only those this attempt removed from: a retried
            # task whose first refill failed removes nothing, but the shortfall is still recorded
            await self.repair.repair(owners)
            return
        await timelines.add_to_timelines(
            owners=owners, entry=TimelineEntry(post_id=post_id, author_id=author)
        )
        self._deliveries.inc(len(owners))
        DELIVERY_LAG.observe(max(0.0, time.time() - id_time(post_id).timestamp()))
        await self._confirm(owners, post_id, author, unfollows_before)

    async def _confirm(
        self, owners: Sequence[UserId], post_id: PostId, author: UserId, unfollows_before: int | None
    ) -> None:
        """The re-check after a chunk (repair.py): the post still exists, and the owners who
        are not the author still follow them."""
        if post_id not in await self._b.posts.posts_by_id(ids=[post_id]):
            stale = list(owners)
        elif (
            unfollows_before is None
            or unfollows_before == (await self._b.graph.follow_counts(user_ids=[author]))[author].unfollows
        ):
            return
        else:
            still = await self._b.graph.followers_among(user_id=author, candidates=owners)
            stale = [owner for owner in owners if owner not in still and owner != author]
        if stale:
            await self._b.timelines.remove_post(owners=stale, post_id=post_id)
            await self.repair.repair(stale)

    async def _announce(self, operation: pb.ChunkOperation, post_id: PostId, author: UserId) -> None:
        if operation == ADD:
            FANOUT_LAG.observe(max(0.0, time.time() - id_time(post_id).timestamp()))
        event = codec.timeline_event(_EVENTS[operation], post_id, author)
        await self._b.bus.publish(channel=codec.author_channel(author), message=event)

    # --- follows -----------------------------------------------------------------------------

    async def _follow_changed(self, follower: UserId, followee: UserId) -> None:
        b = self._b
        if self._strategy.materialises:
            if await b.graph.follows(follower=follower, followees=[followee]):
                # an inactive one is rebuilt when they return
                if await self._inactivity.active_among([follower]):
                    await self._backfill(follower, followee)
            else:
                await b.timelines.remove_author(owner=follower, author_id=followee)
                await self.repair.repair([follower])  # whether or not this attempt removed any
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
        await self.repair.confirm(follower, entries)
        await self.repair.repair([follower])  # a raised floor may have left it short

    def _materialised(self, delivery: Delivery) -> bool:
        return self._strategy.materialises and delivery is Delivery.PUSHED
