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
        """Which store roles answer (readiness), by role (users, posts, graph, timelines, cache,
        bus, queue, bulk_queue, ledger), never by class: a probe is public, and class names
        tell an attacker which technologies to aim at. Each resource is asked once, all at
        once; one that does not answer `within` seconds counts as down, so a hung store
        cannot hang a probe. A role kept in process (a memory cache) has nothing to ask."""
        pinged = [(r, ping) for r in self.resources if (ping := getattr(r, "ping", None))]

        async def answers(ping: Callable[[], Awaitable[object]]) -> bool:
            try:
                await asyncio.wait_for(ping(), within)
            except Exception:
                return False
            return True

        found = await asyncio.gather(*(answers(ping) for _, ping in pinged))
        up = {id(resource): ok for (resource, _), ok in zip(pinged, found, strict=True)}
        by_role: dict[str, bool] = {}
        claimed: set[int] = set()
        for role in ROLES:
            backing = _backing(getattr(self, role), [resource for resource, _ in pinged])
            if backing:
                by_role[role] = all(up[id(resource)] for resource in backing)
                claimed.update(id(resource) for resource in backing)
        # a resource no role is found on still counts, under a name that says nothing
        for n, (resource, _) in enumerate((r for r in pinged if id(r[0]) not in claimed), start=1):
            by_role["other" if n == 1 else f"other-{n}"] = up[id(resource)]
        return by_role


ROLES = ("users", "posts", "graph", "timelines", "cache", "bus", "queue", "bulk_queue", "ledger")


def _backing(store: object, resources: list[object]) -> list[object]:
    """The resources a role's store needs: the store itself (an SQS queue, a DynamoDB table),
    else its technology's shared client (the SQLite file, the MongoDB database, the Redis
    connection). Wrappers (the read-through cache, Redis hot timelines) are looked through to
    the store that holds the data: those wrappers survive their Redis being down."""
    while (inner := getattr(store, "_inner", None)) is not None:
        store = inner
    if any(resource is store for resource in resources):
        return [store]
    technology = _technology(store)
    return [r for r in resources if technology is not None and _technology(r) == technology]


def _technology(thing: object) -> str | None:
    """murmur.storage.<technology>[.module] -> technology; None outside murmur.storage."""
    prefix, _, rest = type(thing).__module__.partition("murmur.storage.")
    return rest.partition(".")[0] if not prefix and rest else None
