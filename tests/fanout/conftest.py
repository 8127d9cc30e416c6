"""The cloud stand-ins for the fan-out concurrency tests (test_concurrency_cloud.py, test_races.py)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest
from concurrent_machine import ConcurrentFanout

from devstack.cloud import StoreNames
from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from murmur.storage.factory import open_backends
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer


class CloudFanout(ConcurrentFanout):
    servers: ClassVar[dict[str, Any]] = {}

    def settings(self) -> dict[str, Any]:
        redis: RedisServer = self.servers["redis"]
        moto: MotoServer = self.servers["moto"]
        mongo: MongoServer = self.servers["mongo"]
        bolt: BoltServer = self.servers["bolt"]
        names = StoreNames.unique()
        return {
            **super().settings(),
            "profile": "cloud",
            "auth": {"jwt_secret": uuid.uuid4().hex * 2, "hash_time_cost": 1, "hash_memory_kib": 8},
            "mongo": {"uri": mongo.uri, "database": names.database},
            "neptune": {"uri": bolt.uri, "follower_block_size": 1},
            "aws": {
                "endpoint_url": moto.url,
                "region": moto.region,
                "timelines_table": names.timelines_table,
                "fanout_queue": names.fanout_queue,
                "fanout_bulk_queue": names.fanout_bulk_queue,
                "fanout_dead_letter_queue": names.dead_letter_queue,
            },
            "redis": {"url": redis.url},
        }

    async def open_backends(self, settings: Settings) -> Backends:
        return await open_backends(settings)


@pytest.fixture
def cloud_servers(
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in moto_server.env().items():  # moto's dummy credentials for the AWS clients
        monkeypatch.setenv(key, value)
    CloudFanout.servers = {
        "redis": redis_server,
        "moto": moto_server,
        "mongo": mongo_server,
        "bolt": bolt_server,
    }


class CloudPush(CloudFanout):
    strategy = Strategy.PUSH


class CloudHybrid(CloudFanout):
    strategy = Strategy.HYBRID
