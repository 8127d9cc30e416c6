"""The set of stores one running Murmur uses, whatever technologies back them."""

from __future__ import annotations

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

    async def ping(self) -> dict[str, bool]:
        """Which resources answer (readiness)."""
        results: dict[str, bool] = {}
        for resource in self.resources:
            ping = getattr(resource, "ping", None)
            if ping is None:
                continue
            try:
                await ping()
                results[type(resource).__name__] = True
            except Exception:
                results[type(resource).__name__] = False
        return results
