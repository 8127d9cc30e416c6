"""Chunks: one span of an author's followers gets a post added or removed.

A chunk reads the truth when it runs (the followers in its span, who is active), writes
idempotently, and hands the re-check and any repair to the repair policy (repair.py).
The ledger makes a redelivered chunk apply once and tells the one worker whose finish
completes the plan to publish the live event.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from murmur.domain import PostId, TimelineEntry, UserId, id_time
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.fanout.inactivity import Inactivity
from murmur.fanout.repair import TimelineRepair
from murmur.metrics import CHUNK_SECONDS, DELIVERIES, DELIVERY_LAG, FANOUT_LAG
from murmur.storage.bundle import Backends

ADD, REMOVE = pb.CHUNK_OPERATION_ADD, pb.CHUNK_OPERATION_REMOVE
_OPERATION_NAMES = {ADD: "add", REMOVE: "remove"}
_EVENTS = {ADD: pb.TimelineEvent.KIND_ADDED, REMOVE: pb.TimelineEvent.KIND_REMOVED}


def task_name(post_id: str, operation: pb.ChunkOperation) -> str:
    """The fan-out's name in the ledger, and the stem of its chunks' dedup keys."""
    return f"{post_id}:{_OPERATION_NAMES[operation]}"


class ChunkHandler:
    def __init__(
        self, *, backends: Backends, repair: TimelineRepair, inactivity: Inactivity, strategy_name: str
    ) -> None:
        self._b = backends  # the sources of truth: nothing here reads a cache
        self._repair = repair
        self._inactivity = inactivity
        self._deliveries = DELIVERIES.labels(strategy_name)

    async def handle(
        self,
        operation: pb.ChunkOperation,
        post_id: PostId,
        author: UserId,
        *,
        index: int,
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
            await self.announce(operation, post_id, author)

    async def apply(
        self,
        owners: Sequence[UserId],
        operation: pb.ChunkOperation,
        post_id: PostId,
        author: UserId,
        *,
        unfollows_before: int | None = None,
    ) -> None:
        """Add the post to (or remove it from) these owners' timelines."""
        if not owners:
            return
        if operation == REMOVE:
            await self._repair.remove_post(owners, post_id)
            return
        entry = TimelineEntry(post_id=post_id, author_id=author)
        await self._b.timelines.add_to_timelines(owners=owners, entry=entry)
        self._deliveries.inc(len(owners))
        DELIVERY_LAG.observe(max(0.0, time.time() - id_time(post_id).timestamp()))
        await self._repair.added(owners, [entry], unfollows_before=unfollows_before)

    async def announce(self, operation: pb.ChunkOperation, post_id: PostId, author: UserId) -> None:
        """The live event of a fan-out that is complete."""
        if operation == ADD:
            FANOUT_LAG.observe(max(0.0, time.time() - id_time(post_id).timestamp()))
        event = codec.timeline_event(_EVENTS[operation], post_id, author)
        await self._b.bus.publish(channel=codec.author_channel(author), message=event)

    async def _apply_span(
        self, operation: pb.ChunkOperation, post_id: PostId, author: UserId, span: str | None
    ) -> None:
        graph = self._b.graph
        # read before the followers: if it has not moved by the re-check, nobody unfollowed
        unfollows = (await graph.follow_counts(user_ids=[author]))[author].unfollows
        owners = await graph.followers_in(user_id=author, span=span) if span is not None else []
        if operation == ADD:
            owners = await self._inactivity.active_among(owners)
        await self.apply(owners, operation, post_id, author, unfollows_before=unfollows)
