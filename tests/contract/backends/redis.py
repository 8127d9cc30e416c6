"""Contract-suite fixtures for the redis backends (see tests/contract/conftest.py).

Every test gets a key and channel prefix of its own on the session's redis-server, and
its keys are deleted afterwards. The hot timelines run in front of a SQLite timeline
store (`redis_hot`) and in front of DynamoDB on moto (`redis_hot_dynamodb`), the cloud's
pairing: the contract holds for each pair.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from murmur.settings import RedisSettings
from murmur.storage.dynamodb import DynamoTimelineStore
from murmur.storage.redis import RedisCache, RedisConnection, RedisEventBus, RedisHotTimelines
from murmur.storage.sqlite import SqliteDatabase, SqliteTimelineStore
from tests.servers import RedisServer


@pytest.fixture
async def redis_connection(redis_server: RedisServer) -> AsyncIterator[RedisConnection]:
    prefix = f"contract-{uuid.uuid4().hex}:"
    conn = await RedisConnection.open(RedisSettings(url=redis_server.url), prefix=prefix)
    try:
        yield conn
    finally:
        keys = [key async for key in conn.client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await conn.client.unlink(*keys)
        await conn.close()


@pytest.fixture
def redis_cache(redis_connection: RedisConnection) -> RedisCache:
    return RedisCache(conn=redis_connection)


@pytest.fixture
def redis_bus(redis_connection: RedisConnection) -> RedisEventBus:
    return RedisEventBus(conn=redis_connection)


@pytest.fixture
async def redis_hot_timelines(
    redis_connection: RedisConnection, tmp_path: Path, timeline_cap: int
) -> AsyncIterator[RedisHotTimelines]:
    db = await SqliteDatabase.open(tmp_path / "durable-timelines.db")
    try:
        yield RedisHotTimelines(inner=SqliteTimelineStore(db=db, cap=timeline_cap), conn=redis_connection)
    finally:
        await db.close()


@pytest.fixture
def redis_hot_dynamodb_timelines(
    redis_connection: RedisConnection, dynamodb_timelines: DynamoTimelineStore
) -> RedisHotTimelines:
    """Production's pairing; the DynamoDB store (backends/aws.py) opens and drops its own table."""
    return RedisHotTimelines(inner=dynamodb_timelines, conn=redis_connection)
