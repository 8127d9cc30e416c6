"""A hostile client's view: `murmur serve` as its own process, configured the way a user runs
it, attacked over real sockets. Each test here is a pentest finding that must stay closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hostile_server import Served, serve

from tests.servers._process import free_port

ServerFactory = Callable[..., Served]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start `murmur serve` with MURMUR_* overrides (`{"MURMUR_API__MAX_COST": "50"}`); every
    server it started is stopped when the test ends."""
    started: list[Served] = []

    def start(env: dict[str, str | None] | None = None, *, production: bool = False) -> Served:
        workdir = tmp_path / f"server-{len(started)}"
        server = serve(workdir, port=free_port(), env=env or {}, production=production)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# The shared servers' tests register accounts of their own and send many new documents, all
# from 127.0.0.1: the budgets per address are the subject of test_hostile_rate_limits.py.
MANY_ACCOUNTS: dict[str, str | None] = {
    "MURMUR_RATE_LIMIT__LOGIN_PER_IP": "100000/minute",
    "MURMUR_RATE_LIMIT__REGISTER_PER_IP": "100000/hour",
    "MURMUR_RATE_LIMIT__NEW_QUERY_BYTES_PER_IP": "100000000/minute",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One development server (the `make run` defaults, no demo world, room for many accounts)
    shared by a module."""
    served = serve(tmp_path_factory.mktemp("hostile"), port=free_port(), env=MANY_ACCOUNTS)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A production server (secret set, introspection and GraphiQL off) shared by a module."""
    served = serve(
        tmp_path_factory.mktemp("hostile-prod"), port=free_port(), env=MANY_ACCOUNTS, production=True
    )
    yield served
    served.stop()
