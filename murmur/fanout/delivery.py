"""What the workers do with a fan-out task, under every strategy: each kind of task to the
part that handles it.

- a post or a delete (express lane): the planner (planner.py) delivers to the author and
  handles one span in place, or records a plan and sends its chunks;
- a chunk (bulk lane): the chunk handler (chunks.py) applies one span, once (the ledger),
  and the worker whose finish completes the plan publishes the live event;
- a follow change (express lane): the follow handler (follows.py) backfills or removes.

Every handler reads the truth when it runs and writes idempotently; what is re-checked
after a write and when a timeline is repaired is decided in one place, the repair
policy (repair.py). So handling a task twice, late, or at the same time as a conflicting
one converges on the timelines pull would compute.
"""

from __future__ import annotations

from murmur.domain import PostId, UserId
from murmur.events import codec
from murmur.fanout.base import FanoutStrategy
from murmur.fanout.chunks import ADD, REMOVE, ChunkHandler
from murmur.fanout.follows import FollowHandler
from murmur.fanout.inactivity import Inactivity
from murmur.fanout.planner import FanoutPlanner
from murmur.fanout.repair import TimelineRepair
from murmur.fanout.sources import Sources
from murmur.storage.bundle import Backends


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
        self.repair = repair
        name = strategy.name.value
        self.chunks = ChunkHandler(
            backends=backends, repair=repair, inactivity=inactivity, strategy_name=name
        )
        self.planner = FanoutPlanner(
            backends=backends,
            chunks=self.chunks,
            materialises=strategy.materialises,
            followers_page_size=followers_page_size,
        )
        self.follows = FollowHandler(
            backends=backends,
            repair=repair,
            inactivity=inactivity,
            sources=sources,
            materialises=strategy.materialises,
            strategy_name=name,
        )

    async def handle(self, body: bytes) -> None:
        """Apply one task; raises UndecodableMessage for poison, store errors otherwise."""
        task = codec.decode_task(body)
        match task.WhichOneof("task"):
            case "post_created":
                created = task.post_created
                await self.planner.plan(
                    ADD, PostId(created.post_id), UserId(created.author_id), created.delivery
                )
            case "post_deleted":
                deleted = task.post_deleted
                await self.planner.plan(
                    REMOVE, PostId(deleted.post_id), UserId(deleted.author_id), deleted.delivery
                )
            case "chunk":
                chunk = task.chunk
                await self.chunks.handle(
                    chunk.operation,
                    PostId(chunk.post_id),
                    UserId(chunk.author_id),
                    index=chunk.index,
                    span=chunk.span,
                )
            case "follow_changed":
                changed = task.follow_changed
                await self.follows.changed(UserId(changed.follower_id), UserId(changed.followee_id))
