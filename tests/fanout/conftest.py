"""The cloud stand-ins for the fan-out concurrency tests (test_concurrency_cloud.py, test_races.py)."""

from __future__ import annotations

import pytest

from devstack.cloud import CloudServers
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer
from tests.support.cloud import StandIns


@pytest.fixture
def cloud_servers(
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
    monkeypatch: pytest.MonkeyPatch,
) -> CloudServers:
    """The servers of this test, where the cloud state machines (test_concurrency_cloud.py),
    which Hypothesis builds with no arguments, find them."""
    for key, value in moto_server.env().items():  # moto's dummy credentials for the AWS clients
        monkeypatch.setenv(key, value)
    servers = CloudServers(redis=redis_server, moto=moto_server, mongo=mongo_server, bolt=bolt_server)
    monkeypatch.setattr(StandIns, "current", servers)
    return servers
