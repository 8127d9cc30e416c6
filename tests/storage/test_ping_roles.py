"""Backends.ping answers by store role, never by class (security review, issue 16, finding 11),
for the cloud shape too: stand-ins here carry the modules of the real cloud classes."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from murmur.storage.bundle import Backends


def stand(module: str, name: str, *, up: bool | None = None, **attributes: object) -> Any:
    """An instance of a class named `name` defined in `module`, with a ping when `up` is set."""
    namespace: dict[str, object] = {"__module__": module}
    if up is not None:

        async def ping(self: object) -> None:
            if not up:
                raise ConnectionError("down")

        namespace["ping"] = ping
    instance = type(name, (), namespace)()
    instance.__dict__.update(attributes)
    return instance


def cloud(*, redis_up: bool = True, neptune_up: bool = True) -> Backends:
    mongo = stand("murmur.storage.mongo", "MongoDatabase", up=True)
    redis = stand("murmur.storage.redis.connection", "RedisConnection", up=redis_up)
    neptune = stand("murmur.storage.neptune.graph", "NeptuneFollowGraph", up=neptune_up)
    dynamo = stand("murmur.storage.dynamodb", "DynamoTimelineStore", up=True)
    express, bulk = (stand("murmur.storage.sqs", "SqsQueue", up=True) for _ in range(2))
    users = stand("murmur.storage.mongo", "MongoUserStore", _users="collection")
    return Backends(
        users=cast(Any, stand("murmur.storage.cached", "CachedUserStore", _inner=users)),
        posts=cast(Any, stand("murmur.storage.mongo", "MongoPostStore", _db=mongo)),
        graph=neptune,
        timelines=cast(Any, stand("murmur.storage.redis.timelines", "RedisHotTimelines", _inner=dynamo)),
        cache=cast(Any, stand("murmur.storage.redis.cache", "RedisCache", _conn=redis)),
        bus=cast(Any, stand("murmur.storage.redis.bus", "RedisEventBus", _conn=redis)),
        queue=express,
        bulk_queue=bulk,
        ledger=cast(Any, stand("murmur.storage.mongo", "MongoFanoutLedger", _plans="collection")),
        resources=[mongo, neptune, dynamo, redis, express, bulk],
    )


def test_the_cloud_shape_answers_by_role() -> None:
    roles = ("users", "posts", "graph", "timelines", "cache", "bus", "queue", "bulk_queue", "ledger")
    assert asyncio.run(cloud().ping()) == dict.fromkeys(roles, True)


def test_redis_down_is_the_cache_and_bus_only() -> None:
    """Hot timelines look through to DynamoDB: timelines stay up when Redis is down."""
    answers = asyncio.run(cloud(redis_up=False).ping())
    assert {role for role, up in answers.items() if not up} == {"cache", "bus"}
    answers = asyncio.run(cloud(neptune_up=False).ping())
    assert {role for role, up in answers.items() if not up} == {"graph"}


def test_a_resource_no_role_uses_still_counts_under_a_neutral_name() -> None:
    backends = cloud()
    backends.resources.append(stand("somewhere.else", "SecretThing", up=False))
    answers = asyncio.run(backends.ping())
    assert answers["other"] is False and "SecretThing" not in answers
