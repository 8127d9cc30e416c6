"""Real local servers for benchmarks: the same launchers the tests use (tests/servers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.servers._process import ServerStartError
from tests.servers.plugin import STARTUP_TIMEOUT_SECONDS, ServerPool


@contextmanager
def local_server(name: str) -> Iterator[Any]:
    """Start one server ("redis_server", "moto_server", ...) on loopback; stop it by PID on exit."""
    pool = ServerPool({name}, STARTUP_TIMEOUT_SECONDS)
    try:
        try:
            info = pool.get(name)
        except ServerStartError as exc:
            raise SystemExit(f"{name} did not start: {exc}") from exc
        yield info
    finally:
        pool.stop_all()
