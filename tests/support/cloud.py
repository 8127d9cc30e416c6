"""The cloud profile on the suite's stand-in servers (tests/servers), for tests that run Murmur
in-process (tests/fanout's cloud state machines) and as `murmur` processes (tests/e2e).

A plain module, not a conftest: test modules import these by name, and `from conftest import`
finds whichever conftest.py was imported first under that name.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, cast

from devstack.cloud import CloudServers, StoreNames, cloud_env, inherited_env, new_jwt_secret
from murmur.settings import Settings
from murmur.storage.bundle import Backends
from murmur.storage.factory import open_backends
from tests.contract.backends.aws_semantics import AwsFifoSemantics
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer


class FifoMemory:
    """What AWS remembers server-side about a FIFO queue, shared by every client of a test."""

    def __init__(self) -> None:
        self.first_sent: dict[Any, float] = {}
        self.deliveries: dict[str, Any] = {}
        self.latest: dict[Any, str] = {}


class SharedAwsFifoSemantics(AwsFifoSemantics):
    """AwsFifoSemantics whose memory (dedup ids, receipts) is the queue's, not one client's:
    the API process and the worker process each have a client, and AWS remembers a dedup id
    whichever of them sent it."""

    def __init__(self, client: Any, memory: FifoMemory) -> None:
        super().__init__(client)
        self._memory = memory

    @property
    def _first_sent(self) -> dict[Any, float]:
        return self._memory.first_sent

    @_first_sent.setter
    def _first_sent(self, value: dict[Any, float]) -> None:
        if "_memory" in self.__dict__:  # AwsFifoSemantics.__init__ sets one of its own first
            self._memory.first_sent = value

    @property
    def _deliveries(self) -> dict[str, Any]:
        return self._memory.deliveries

    @_deliveries.setter
    def _deliveries(self, value: dict[str, Any]) -> None:
        if "_memory" in self.__dict__:
            self._memory.deliveries = value

    @property
    def _latest(self) -> dict[Any, str]:
        return self._memory.latest

    @_latest.setter
    def _latest(self, value: dict[Any, str]) -> None:
        if "_memory" in self.__dict__:
            self._memory.latest = value


class StandIns:
    """The stand-in servers of the running test. Hypothesis builds a state machine with no
    arguments, so a machine reads its servers from here; the `cloud_servers` fixture
    (tests/fanout/conftest.py) sets them for one test."""

    current: ClassVar[CloudServers | None] = None

    @classmethod
    def get(cls) -> CloudServers:
        if cls.current is None:
            raise RuntimeError("no cloud stand-ins: the test must use the cloud_servers fixture")
        return cls.current


def cloud_settings(servers: CloudServers) -> dict[str, Any]:
    """Settings of the full cloud profile on `servers`, with a database, table and queues of
    their own (other tests share these servers)."""
    names = StoreNames.unique()
    return {
        "profile": "cloud",
        "auth": {"jwt_secret": uuid.uuid4().hex * 2, "hash_time_cost": 1, "hash_memory_kib": 8},
        "mongo": {"uri": servers.mongo.uri, "database": names.database},
        "neptune": {"uri": servers.bolt.uri, "follower_block_size": 1},
        "aws": {
            "endpoint_url": servers.moto.url,
            "region": servers.moto.region,
            "timelines_table": names.timelines_table,
            "fanout_queue": names.fanout_queue,
            "fanout_bulk_queue": names.fanout_bulk_queue,
            "fanout_dead_letter_queue": names.dead_letter_queue,
        },
        "redis": {"url": servers.redis.url},
    }


async def open_aws_like_backends(settings: Settings, memory: FifoMemory) -> Backends:
    """One process's clients; its SQS clients keep AWS's FIFO rules (moto forgets a dedup id
    once its message is gone, AWS remembers it 5 minutes) with `memory`, which every process
    on the same queues shares, as the queue's is on AWS."""
    backends = await open_backends(settings)
    for queue in (backends.queue, backends.bulk_queue):
        sqs = cast(Any, queue)
        sqs.client = SharedAwsFifoSemantics(sqs.client, memory)
    return backends


def cloud_stack_env(
    redis: RedisServer, moto: MotoServer, mongo: MongoServer, bolt: BoltServer
) -> dict[str, str]:
    """The environment of `murmur` processes on the cloud stand-ins, with a database, table
    and queues of their own (the contract tests share these servers)."""
    servers = CloudServers(redis=redis, moto=moto, mongo=mongo, bolt=bolt)
    return {
        **inherited_env(keep_murmur=False),
        **cloud_env(servers, jwt_secret=new_jwt_secret(), names=StoreNames.unique()),
    }
