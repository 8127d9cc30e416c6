"""Wire a running Murmur together from settings: stores, strategy, accounts, feed, fan-out."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from murmur.accounts import Accounts
from murmur.auth import Passwords, Tokens
from murmur.domain import IdGenerator, Limits
from murmur.fanout.base import FanoutStrategy
from murmur.fanout.delivery import FanoutHandler
from murmur.fanout.delivery_policy import CostModel, CostWeights, FollowerThreshold
from murmur.fanout.feed import Feed
from murmur.fanout.healing import TimelineHealing
from murmur.fanout.hybrid import HybridStrategy
from murmur.fanout.inactivity import Inactivity
from murmur.fanout.pull import PullStrategy
from murmur.fanout.push import PushStrategy
from murmur.fanout.rates import RateMeter
from murmur.fanout.repair import TimelineRepair
from murmur.fanout.sources import Sources
from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from murmur.storage.cached import CachedPostStore, CachedUserStore
from murmur.storage.factory import open_backends
from murmur.storage.memory import NoCache


@dataclass
class Platform:
    settings: Settings
    backends: Backends  # users and posts read through the cache (the API's view)
    feed: Feed
    fanout: FanoutHandler
    sources: Sources
    limits: Limits
    ids: IdGenerator
    _accounts: Accounts | None = None  # None in a fan-out worker: it signs and checks no tokens

    @property
    def accounts(self) -> Accounts:
        if self._accounts is None:
            raise RuntimeError("this process runs fan-out only: it has no accounts service")
        return self._accounts


def build_strategy(settings: Settings, backends: Backends, sources: Sources) -> FanoutStrategy:
    match settings.fanout:
        case Strategy.PUSH:
            return PushStrategy(timelines=backends.timelines)
        case Strategy.PULL:
            return PullStrategy(sources=sources, posts=backends.posts)
        case Strategy.HYBRID:
            return HybridStrategy(
                posts=backends.posts,
                timelines=backends.timelines,
                sources=sources,
                policy=FollowerThreshold(graph=backends.graph, threshold=settings.hybrid_threshold),
            )
        case Strategy.COST_MODEL:
            costs = settings.cost_model
            meters = (
                RateMeter(half_life_seconds=costs.half_life_seconds),
                RateMeter(half_life_seconds=costs.half_life_seconds),
            )
            return HybridStrategy(
                posts=backends.posts,
                timelines=backends.timelines,
                sources=sources,
                name=Strategy.COST_MODEL,
                meters=meters,
                policy=CostModel(
                    graph=backends.graph,
                    reads=meters[0],
                    writes=meters[1],
                    weights=CostWeights(push_cost=costs.push_cost, pull_cost=costs.pull_cost),
                    fallback=FollowerThreshold(graph=backends.graph, threshold=settings.hybrid_threshold),
                    half_life_seconds=costs.half_life_seconds,
                    sample=costs.sample_followers,
                    remember_seconds=costs.remember_seconds,
                ),
            )


def assemble(
    settings: Settings,
    backends: Backends,
    *,
    ids: IdGenerator | None = None,
    serves_api: bool = True,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Platform:
    """Build the services over already-open stores. The API reads users and posts through
    the cache; fan-out decides what exists from the stores themselves. `clock` is what
    "now" means for activity (tests move it)."""
    truth = dataclasses.replace(backends)
    backends.users = CachedUserStore(inner=truth.users, cache=backends.cache)
    backends.posts = CachedPostStore(inner=truth.posts, cache=backends.cache)
    ids = ids or IdGenerator(settings.resolved_node_id())
    limits = Limits()
    sources = Sources(graph=truth.graph, posts=truth.posts, cache=backends.cache)
    repair = TimelineRepair(posts=truth.posts, graph=truth.graph, timelines=truth.timelines)
    strategy = build_strategy(settings, backends, sources)
    accounts = None
    if serves_api:
        accounts = Accounts(
            users=backends.users,
            passwords=Passwords(
                time_cost=settings.auth.hash_time_cost, memory_kib=settings.auth.hash_memory_kib
            ),
            tokens=Tokens(secret=settings.jwt_secret(), ttl_seconds=settings.auth.token_ttl_seconds),
            ids=ids,
            limits=limits,
        )
    inactivity = Inactivity(users=truth.users, after_days=settings.inactive_after_days, clock=clock)
    feed = Feed(
        backends=backends,
        strategy=strategy,
        sources=sources,
        repair=repair,
        ids=ids,
        limits=limits,
        cap=settings.timeline_max,
        inactivity=inactivity,
        healing=TimelineHealing(
            posts=truth.posts,
            sources=sources,
            timelines=truth.timelines,
            repair=repair,
            enabled=settings.heal_reads,
        ),
    )
    fanout = FanoutHandler(
        backends=truth,
        strategy=strategy,
        sources=sources,
        repair=repair,
        followers_page_size=settings.workers.followers_page_size,
        inactivity=inactivity,
    )
    return Platform(
        settings=settings,
        backends=backends,
        _accounts=accounts,
        feed=feed,
        fanout=fanout,
        sources=sources,
        limits=limits,
        ids=ids,
    )


@asynccontextmanager
async def open_platform(settings: Settings, *, serves_api: bool = True) -> AsyncIterator[Platform]:
    backends = await open_backends(settings)
    if not serves_api and settings.resolved_stores.cache == "memory":
        backends.cache = NoCache()  # fan-out reads no cache; a copy of its own would only go stale
    try:
        yield assemble(settings, backends, serves_api=serves_api)
    finally:
        await backends.close()
