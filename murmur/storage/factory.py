"""Build the stores a running Murmur uses from settings alone.

Each store is chosen on its own (settings.resolved_stores: the profile's
defaults, overridable per store); stores of one technology share one client.
Driver imports happen here, lazily, so the embedded shape never loads a cloud
client library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from murmur.settings import Settings
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
from murmur.storage.bundle import Backends

C = TypeVar("C", bound=Closeable)

if TYPE_CHECKING:
    from murmur.storage.mongo import MongoDatabase
    from murmur.storage.redis import RedisConnection
    from murmur.storage.sqlite import SqliteDatabase


class _Connections:
    """Opens each technology's client once, on first use, and remembers it for closing."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.opened: list[Closeable] = []
        self._sqlite: SqliteDatabase | None = None
        self._mongo: MongoDatabase | None = None
        self._redis: RedisConnection | None = None

    def keep(self, resource: C) -> C:
        self.opened.append(resource)
        return resource

    async def sqlite(self) -> SqliteDatabase:
        if self._sqlite is None:
            from murmur.storage.sqlite import SqliteDatabase

            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._sqlite = self.keep(await SqliteDatabase.open(self.settings.sqlite_path))
        return self._sqlite

    async def mongo(self) -> MongoDatabase:
        if self._mongo is None:
            from murmur.storage.mongo import MongoDatabase

            self._mongo = self.keep(
                await MongoDatabase.open(self.settings.mongo, create_indexes=self.settings.create_missing)
            )
        return self._mongo

    async def redis(self) -> RedisConnection:
        if self._redis is None:
            from murmur.storage.redis import RedisConnection

            self._redis = self.keep(await RedisConnection.open(self.settings.redis))
        return self._redis


async def open_backends(settings: Settings) -> Backends:
    """Open every store the settings choose; close them with `await backends.close()`."""
    connections = _Connections(settings)
    try:
        return Backends(
            users=await _users(connections),
            posts=await _posts(connections),
            graph=await _graph(connections),
            timelines=await _timelines(connections),
            cache=await _cache(connections),
            bus=await _bus(connections),
            queue=await _queue(connections, bulk=False),
            bulk_queue=await _queue(connections, bulk=True),
            ledger=await _ledger(connections),
            resources=connections.opened,
        )
    except BaseException:
        for resource in reversed(connections.opened):
            await resource.close()
        raise


async def _users(c: _Connections) -> UserStore:
    if c.settings.resolved_stores.users == "mongo":
        from murmur.storage.mongo import MongoUserStore

        return MongoUserStore(db=await c.mongo())
    from murmur.storage.sqlite import SqliteUserStore

    return SqliteUserStore(db=await c.sqlite())


async def _posts(c: _Connections) -> PostStore:
    if c.settings.resolved_stores.posts == "mongo":
        from murmur.storage.mongo import MongoPostStore

        return MongoPostStore(db=await c.mongo())
    from murmur.storage.sqlite import SqlitePostStore

    return SqlitePostStore(db=await c.sqlite())


async def _graph(c: _Connections) -> FollowGraph:
    if c.settings.resolved_stores.graph == "neptune":
        from murmur.storage.neptune import NeptuneFollowGraph

        neptune = c.settings.neptune
        return c.keep(await NeptuneFollowGraph.open(neptune, follower_block_size=neptune.follower_block_size))
    from murmur.storage.sqlite import SqliteFollowGraph

    return SqliteFollowGraph(db=await c.sqlite())


async def _timelines(c: _Connections) -> TimelineStore:
    cap, trim_every = c.settings.timeline_max, c.settings.timeline_trim_every
    if c.settings.resolved_stores.timelines != "dynamodb":
        from murmur.storage.sqlite import SqliteTimelineStore
        from murmur.storage.sqlite.timelines import DEFAULT_TRIM_EVERY

        return SqliteTimelineStore(db=await c.sqlite(), cap=cap, trim_every=trim_every or DEFAULT_TRIM_EVERY)
    from murmur.storage.dynamodb import DEFAULT_TRIM_EVERY as DYNAMO_TRIM_EVERY
    from murmur.storage.dynamodb import DynamoTimelineStore

    durable = c.keep(
        await DynamoTimelineStore.open(
            c.settings.aws,
            cap=cap,
            create_missing=c.settings.create_missing,
            trim_every=trim_every or DYNAMO_TRIM_EVERY,
        )
    )
    if c.settings.resolved_stores.cache != "redis" or not c.settings.redis.hot_timelines:
        return durable
    from murmur.storage.redis import RedisHotTimelines

    return RedisHotTimelines(inner=durable, conn=await c.redis())


async def _cache(c: _Connections) -> Cache:
    if c.settings.resolved_stores.cache == "redis":
        from murmur.storage.redis import RedisCache

        return RedisCache(conn=await c.redis())
    from murmur.storage.memory import MemoryCache, NoCache

    return NoCache() if c.settings.resolved_stores.cache == "none" else MemoryCache()


async def _bus(c: _Connections) -> EventBus:
    if c.settings.resolved_stores.bus == "redis":
        from murmur.storage.redis import RedisEventBus

        return RedisEventBus(conn=await c.redis())
    from murmur.storage.memory import LocalEventBus

    return LocalEventBus()


async def _queue(c: _Connections, *, bulk: bool) -> Queue:
    """One lane of the fan-out queue: express (bulk=False) or bulk."""
    workers = c.settings.workers
    if c.settings.resolved_stores.queue == "sqs":
        from murmur.storage.sqs import SqsQueue

        aws = c.settings.aws
        return c.keep(
            await SqsQueue.open(
                aws,
                queue_name=aws.fanout_bulk_queue if bulk else aws.fanout_queue,
                visibility_timeout_seconds=workers.visibility_timeout_seconds,
                max_receives=workers.max_receives,
                create_missing=c.settings.create_missing,
            )
        )
    from murmur.storage.sqlite import SqliteQueue

    return SqliteQueue(
        db=await c.sqlite(),
        name="fanout-bulk" if bulk else "fanout",
        visibility_timeout_seconds=workers.visibility_timeout_seconds,
        max_receives=workers.max_receives,
    )


async def _ledger(c: _Connections) -> FanoutLedger:
    """Kept with the posts: a fan-out's progress belongs with what it delivers."""
    if c.settings.resolved_stores.posts == "mongo":
        from murmur.storage.mongo import MongoFanoutLedger

        return MongoFanoutLedger(db=await c.mongo())
    from murmur.storage.sqlite import SqliteFanoutLedger

    return SqliteFanoutLedger(db=await c.sqlite())
