"""Real Murmur servers for end-to-end tests: one shared server, and one per fan-out strategy on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, serving

from devstack.cloud import CloudServers, StoreNames, cloud_env, inherited_env, new_jwt_secret
from murmur.settings import Settings, Strategy
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer


def e2e_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "auth": {"hash_time_cost": 1, "hash_memory_kib": 8},
        "seed": {"enabled": False},
        # short long-polls: fan-out reacts quickly and shutdown is fast
        "workers": {"in_process": 2, "wait_seconds": 0.05},
        # every test registers its own accounts, all from 127.0.0.1
        "rate_limit": {
            "login_per_ip": "100000/minute",
            "register_per_ip": "100000/hour",
            "new_query_bytes_per_ip": "100000000/minute",
        },
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Hybrid, with every author past the threshold, so pushed and pulled posts both appear."""
    yield from serving(
        e2e_settings(tmp_path_factory.mktemp("e2e"), fanout=Strategy.HYBRID, hybrid_threshold=0)
    )


@pytest.fixture(scope="module", params=list(Strategy), ids=lambda strategy: strategy.value)
def strategy_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    strategy: Strategy = request.param
    yield from serving(e2e_settings(tmp_path_factory.mktemp(f"e2e-{strategy.value}"), fanout=strategy))


@pytest.fixture(scope="session")
def locked_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Introspection and GraphiQL off, as in production."""
    settings = e2e_settings(
        tmp_path_factory.mktemp("e2e-locked"),
        api={"introspection": False, "graphiql": False},
        workers={"in_process": 0},
    )
    yield from serving(settings)


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
