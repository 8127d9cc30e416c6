"""Wire a running Murmur together from settings: stores, strategy, accounts, feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from murmur.accounts import Accounts
from murmur.auth import Passwords, Tokens
from murmur.domain import IdGenerator, Limits
from murmur.fanout.base import FanoutStrategy
from murmur.fanout.delivery import FanoutHandler
from murmur.fanout.feed import Feed
from murmur.fanout.hybrid import HybridStrategy
from murmur.fanout.pull import PullStrategy
from murmur.fanout.push import PushStrategy
from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from murmur.storage.cached import CachedPostStore, CachedUserStore
from murmur.storage.factory import open_backends


@dataclass
class Platform:
    settings: Settings
    backends: Backends
    accounts: Accounts
    feed: Feed
    fanout: FanoutHandler
    limits: Limits
    ids: IdGenerator


def build_strategy(settings: Settings, backends: Backends) -> FanoutStrategy:
    match settings.fanout:
        case Strategy.PUSH:
            return PushStrategy(timelines=backends.timelines)
        case Strategy.PULL:
            return PullStrategy(graph=backends.graph, posts=backends.posts)
        case Strategy.HYBRID:
            return HybridStrategy(
                graph=backends.graph,
                posts=backends.posts,
                timelines=backends.timelines,
                threshold=settings.hybrid_threshold,
            )


def assemble(settings: Settings, backends: Backends, *, ids: IdGenerator | None = None) -> Platform:
    """Build the services over already-open stores (users and posts read through the cache)."""
    backends.users = CachedUserStore(inner=backends.users, cache=backends.cache)
    backends.posts = CachedPostStore(inner=backends.posts, cache=backends.cache)
    ids = ids or IdGenerator()
    limits = Limits()
    strategy = build_strategy(settings, backends)
    accounts = Accounts(
        users=backends.users,
        passwords=Passwords(time_cost=settings.auth.hash_time_cost, memory_kib=settings.auth.hash_memory_kib),
        tokens=Tokens(secret=settings.jwt_secret(), ttl_seconds=settings.auth.token_ttl_seconds),
        ids=ids,
        limits=limits,
    )
    feed = Feed(backends=backends, strategy=strategy, ids=ids, limits=limits, cap=settings.timeline_max)
    fanout = FanoutHandler(
        backends=backends, strategy=strategy, followers_page_size=settings.workers.followers_page_size
    )
    return Platform(
        settings=settings,
        backends=backends,
        accounts=accounts,
        feed=feed,
        fanout=fanout,
        limits=limits,
        ids=ids,
    )


@asynccontextmanager
async def open_platform(settings: Settings) -> AsyncIterator[Platform]:
    backends = await open_backends(settings)
    try:
        yield assemble(settings, backends)
    finally:
        await backends.close()
