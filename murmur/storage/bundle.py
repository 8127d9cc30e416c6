"""The set of stores one running Murmur uses, whatever technologies back them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from murmur.storage.base import (
    Cache,
    Closeable,
    EventBus,
    FanoutLedger,
    FollowGraph,
    PostStore,
    Queue,
    TimelineStore,
    UserStore,
)

PING_SECONDS = 2.0


@dataclass
class Backends:
    users: UserStore
    posts: PostStore
    graph: FollowGraph
    timelines: TimelineStore
    cache: Cache
    bus: EventBus
    queue: Queue  # the express lane: posts, deletes and follows, and the plans of their fan-outs
    bulk_queue: Queue  # the bulk lane: the chunks of fan-outs too big for one task
    ledger: FanoutLedger
    # connections and clients to close on shutdown, in order
    resources: list[Closeable] = field(default_factory=list)

    async def close(self) -> None:
        for resource in reversed(self.resources):
            await resource.close()

    async def ping(self, *, within: float = PING_SECONDS) -> dict[str, bool]:
        """Which resources answer (readiness), all asked at once; one that does not answer
        `within` seconds counts as down, so a hung store cannot hang a probe."""
        pinged = [(type(r).__name__, ping) for r in self.resources if (ping := getattr(r, "ping", None))]

        async def answers(ping: Callable[[], Awaitable[object]]) -> bool:
            try:
                await asyncio.wait_for(ping(), within)
            except Exception:
                return False
            return True

        found = await asyncio.gather(*(answers(ping) for _, ping in pinged))
        return {name: ok for (name, _), ok in zip(pinged, found, strict=True)}
