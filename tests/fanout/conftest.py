"""The cloud stand-ins for the fan-out concurrency tests (test_concurrency_cloud.py, test_races.py)."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, cast

import pytest
from concurrent_machine import ConcurrentFanout

from devstack.cloud import StoreNames
from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from murmur.storage.factory import open_backends
from tests.contract.backends.aws_semantics import AwsFifoSemantics
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer


class _FifoMemory:
    """What AWS remembers server-side about a FIFO queue, shared by every client of a test."""

    def __init__(self) -> None:
        self.first_sent: dict[Any, float] = {}
        self.deliveries: dict[str, Any] = {}
        self.latest: dict[Any, str] = {}


class SharedAwsFifoSemantics(AwsFifoSemantics):
    """AwsFifoSemantics whose memory (dedup ids, receipts) is the queue's, not one client's:
    the API process and the worker process each have a client, and AWS remembers a dedup id
    whichever of them sent it."""

    def __init__(self, client: Any, memory: _FifoMemory) -> None:
        super().__init__(client)
        self._memory = memory

    @property  # type: ignore[override]
    def _first_sent(self) -> dict[Any, float]:
        return self._memory.first_sent

    @_first_sent.setter
    def _first_sent(self, value: dict[Any, float]) -> None:
        if "_memory" in self.__dict__:  # AwsFifoSemantics.__init__ sets one of its own first
            self._memory.first_sent = value

    @property  # type: ignore[override]
    def _deliveries(self) -> dict[str, Any]:
        return self._memory.deliveries

    @_deliveries.setter
    def _deliveries(self, value: dict[str, Any]) -> None:
        if "_memory" in self.__dict__:
            self._memory.deliveries = value

    @property  # type: ignore[override]
    def _latest(self) -> dict[Any, str]:
        return self._memory.latest

    @_latest.setter
    def _latest(self, value: dict[Any, str]) -> None:
        if "_memory" in self.__dict__:
            self._memory.latest = value


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
        """One process's clients; both processes' SQS clients keep AWS's FIFO rules (moto
        forgets a dedup id once its message is gone, AWS remembers it 5 minutes), with one
        memory, as the queue's is on AWS."""
        if not hasattr(self, "fifo_memory"):
            self.fifo_memory = _FifoMemory()
        backends = await open_backends(settings)
        for queue in (backends.queue, backends.bulk_queue):
            sqs = cast(Any, queue)
            sqs.client = SharedAwsFifoSemantics(sqs.client, self.fifo_memory)
        return backends


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
