"""One contract suite for every backend: each Protocol's fixture is parametrised over its implementations.

A test asks for `users_store`, `post_store`, `graph`, `timelines`, `queue`, `cache`
or `bus` and runs once per implementation listed in IMPLEMENTATIONS. An
implementation named N provides the fixture `N_<role>` (e.g. `sqlite_users_store`),
which opens a real store (starting its server if it needs one) and closes it after.
To add a cloud backend: list its name under the roles it fills, and define its fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from contract_helpers import QueueConfig

from murmur.storage.base import (
    Cache,
    EventBus,
    FanoutLedger,
    FollowGraph,
    PostStore,
    Queue,
    TimelineStore,
    UserStore,
)
from murmur.storage.memory import LocalEventBus, MemoryCache
from murmur.storage.sqlite import (
    SqliteDatabase,
    SqliteFanoutLedger,
    SqliteFollowGraph,
    SqlitePostStore,
    SqliteQueue,
    SqliteTimelineStore,
    SqliteUserStore,
)

IMPLEMENTATIONS: dict[str, list[str]] = {
    "users_store": ["sqlite", "mongo"],
    "post_store": ["sqlite", "mongo"],
    "graph": ["sqlite", "neptune"],
    "timelines": ["sqlite", "redis_hot", "redis_hot_dynamodb", "dynamodb"],
    "queue": ["sqlite", "sqs"],
    "cache": ["memory", "redis"],
    "bus": ["local", "redis"],
    "ledger": ["sqlite", "mongo"],
}


def _implementation(request: pytest.FixtureRequest, role: str) -> Any:
    return request.getfixturevalue(f"{request.param}_{role}")


# Plain (sync) fixtures that resolve the implementation's fixture by name, so its async
# setup runs in the test's event loop like any other async fixture. A knob an
# implementation fixture reads (timeline_cap, queue_config) is listed here too: pytest
# must see it statically to parametrise it.


@pytest.fixture(params=IMPLEMENTATIONS["users_store"])
def users_store(request: pytest.FixtureRequest) -> UserStore:
    return cast(UserStore, _implementation(request, "users_store"))


@pytest.fixture(params=IMPLEMENTATIONS["post_store"])
def post_store(request: pytest.FixtureRequest) -> PostStore:
    return cast(PostStore, _implementation(request, "post_store"))


@pytest.fixture(params=IMPLEMENTATIONS["graph"])
def graph(request: pytest.FixtureRequest) -> FollowGraph:
    return cast(FollowGraph, _implementation(request, "graph"))


@pytest.fixture(params=IMPLEMENTATIONS["timelines"])
def timelines(request: pytest.FixtureRequest, timeline_cap: int) -> TimelineStore:
    return cast(TimelineStore, _implementation(request, "timelines"))


@pytest.fixture(params=IMPLEMENTATIONS["queue"])
def queue(request: pytest.FixtureRequest, queue_config: QueueConfig) -> Queue:
    return cast(Queue, _implementation(request, "queue"))


@pytest.fixture(params=IMPLEMENTATIONS["cache"])
def cache(request: pytest.FixtureRequest) -> Cache:
    return cast(Cache, _implementation(request, "cache"))


@pytest.fixture(params=IMPLEMENTATIONS["bus"])
def bus(request: pytest.FixtureRequest) -> EventBus:
    return cast(EventBus, _implementation(request, "bus"))


@pytest.fixture(params=IMPLEMENTATIONS["ledger"])
def ledger(request: pytest.FixtureRequest) -> FanoutLedger:
    return cast(FanoutLedger, _implementation(request, "ledger"))


# --- knobs the tests turn, honoured by every implementation ---------------------------


@pytest.fixture(params=[5, 800], ids=lambda cap: f"cap{cap}")
def timeline_cap(request: pytest.FixtureRequest) -> int:
    """Every timeline test runs with a tiny cap (trimming on every write) and the default one."""
    return int(request.param)


@pytest.fixture
def queue_config() -> QueueConfig:
    return QueueConfig()


# --- sqlite: every store over one database file -------------------------------------


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(tmp_path / "contract.db")
    yield db
    await db.close()


@pytest.fixture
def sqlite_users_store(sqlite_db: SqliteDatabase) -> SqliteUserStore:
    return SqliteUserStore(db=sqlite_db)


@pytest.fixture
def sqlite_post_store(sqlite_db: SqliteDatabase) -> SqlitePostStore:
    return SqlitePostStore(db=sqlite_db)


@pytest.fixture
def sqlite_graph(sqlite_db: SqliteDatabase) -> SqliteFollowGraph:
    return SqliteFollowGraph(db=sqlite_db)


@pytest.fixture
def sqlite_timelines(sqlite_db: SqliteDatabase, timeline_cap: int) -> SqliteTimelineStore:
    return SqliteTimelineStore(db=sqlite_db, cap=timeline_cap)


@pytest.fixture
def sqlite_ledger(sqlite_db: SqliteDatabase) -> SqliteFanoutLedger:
    return SqliteFanoutLedger(db=sqlite_db)


@pytest.fixture
def sqlite_queue(sqlite_db: SqliteDatabase, queue_config: QueueConfig) -> SqliteQueue:
    return SqliteQueue(
        db=sqlite_db,
        visibility_timeout_seconds=queue_config.visibility_timeout_seconds,
        max_receives=queue_config.max_receives,
        poll_interval_seconds=0.05,
        clock=queue_config.clock,
    )


# --- in-process -----------------------------------------------------------------------


@pytest.fixture
def memory_cache() -> MemoryCache:
    return MemoryCache()


@pytest.fixture
def local_bus() -> LocalEventBus:
    return LocalEventBus()
