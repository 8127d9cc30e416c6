"""The planner: a post (or a delete) becomes one span handled in place, or chunks.

Planning reads the post from the source of truth, delivers to the author's own
timeline, and cuts the author's followers into spans (FollowGraph.follower_spans). One
span is handled there and then; more are recorded in the fan-out ledger once (a planner
that runs twice sends the same plan) and become chunk tasks on the bulk lane, each with
a dedup key, which any number of workers handle in parallel (chunks.py).
"""

from __future__ import annotations

from murmur.domain import Delivery, PostId, UserId
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.fanout.chunks import ADD, ChunkHandler, task_name
from murmur.storage.base import Outgoing
from murmur.storage.bundle import Backends

NO_FOLLOWERS = ""  # the one span of a fan-out to nobody but the author


class FanoutPlanner:
    def __init__(
        self, *, backends: Backends, chunks: ChunkHandler, materialises: bool, followers_page_size: int
    ) -> None:
        self._b = backends  # the sources of truth: nothing here reads a cache
        self._chunks = chunks
        self._materialises = materialises
        self._page_size = followers_page_size

    async def plan(
        self, operation: pb.ChunkOperation, post_id: PostId, author: UserId, delivery: pb.Delivery
    ) -> None:
        if operation == ADD:
            post = (await self._b.posts.posts_by_id(ids=[post_id])).get(post_id)
            if post is None:
                return  # deleted before its fan-out began: the delete's task cleans up
            pushed = post.delivery is Delivery.PUSHED
        else:
            pushed = codec.delivery_from_pb(delivery) is Delivery.PUSHED
        task = task_name(post_id, operation)
        if not (self._materialises and pushed):
            # pulled: readers merge it in; only the live event is due, once however often
            # this task is delivered (the ledger's one-chunk plan answers True once)
            if await self._b.ledger.finish(task=task, chunk=0, spans=[NO_FOLLOWERS]):
                await self._chunks.announce(operation, post_id, author)
            return
        await self._chunks.apply([author], operation, post_id, author)
        spans = await self._b.graph.follower_spans(user_id=author, size=self._page_size)
        # One span is handled in place, and recorded by its finish (one ledger write), unless
        # a plan is recorded already: a plan delivered again follows the recorded one,
        # whatever became of the followers meanwhile, so exactly one finish completes it.
        plan = await self._b.ledger.recorded(task=task) if len(spans) <= 1 else None
        if plan is None and len(spans) <= 1:
            first = spans[0] if spans else NO_FOLLOWERS
            await self._chunks.handle(operation, post_id, author, index=0, span=first, record=[first])
            return
        if plan is None:
            plan = await self._b.ledger.plan(task=task, spans=spans)
        if len(plan) == 1:
            await self._chunks.handle(operation, post_id, author, index=0, span=plan[0])
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
