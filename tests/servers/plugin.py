"""The fixtures and hooks of the tests.servers plugin (see tests/servers/__init__.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from ._policy import server_unavailable
from ._process import Launch, ServerStartError
from .servers import LAUNCHERS, BoltServer, MongoServer, MotoServer, RedisServer

if TYPE_CHECKING:
    from neo4j import AsyncDriver

# Generous: a first run on a fresh machine also compiles moto's and SecantusDB's bytecode.
STARTUP_TIMEOUT_SECONDS = 60.0

_NEEDED = pytest.StashKey[frozenset[str]]()
_STARTUP_SECONDS = pytest.StashKey[dict[str, float]]()


class ServerPool:
    """The session's servers. The first request launches every server the collected
    tests will need, then waits only for the one asked for: they boot in parallel.

    A request for a server collection did not foresee means tests reach servers in
    ways that cannot be read beforehand (request.getfixturevalue, as the contract suite
    does): then every server is launched at once, as the likeliest need.
    """

    def __init__(self, needed: Iterable[str], timeout: float) -> None:
        self._needed = set(needed)
        self._timeout = timeout
        self._launches: dict[str, Launch[Any]] = {}
        self._failures: dict[str, ServerStartError] = {}
        self.startup_seconds: dict[str, float] = {}

    def get(self, name: str) -> Any:
        if name not in self._needed:
            self._needed = set(LAUNCHERS)
        for other in sorted(self._needed | {name}):
            if other not in self._launches and other not in self._failures:
                self._launch(other)
        if name in self._failures:
            raise self._failures[name]
        try:
            seconds = self._launches[name].wait_ready()
        except ServerStartError:
            exited = any(p.popen.poll() is not None for p in self._launches[name].processes)
            self._discard(name)
            if not exited:
                raise
            # Most likely its port was taken between choosing and binding it: once more.
            self._launch(name)
            if name in self._failures:
                raise self._failures[name] from None
            try:
                seconds = self._launches[name].wait_ready()
            except ServerStartError:
                self._discard(name)
                raise
        self.startup_seconds[name] = seconds
        return self._launches[name].info

    def _launch(self, name: str) -> None:
        try:
            launch = LAUNCHERS[name]()
        except ServerStartError as exc:
            self._failures[name] = exc
            return
        except Exception as exc:  # e.g. OSError from Popen: this server's problem, not the requester's
            self._failures[name] = ServerStartError(f"launching {name} failed: {exc!r}")
            return
        launch.watch(self._timeout)
        self._launches[name] = launch

    def _discard(self, name: str) -> None:
        self._launches.pop(name).stop(keep_workdir=True)  # keep its log to look at

    def stop_all(self) -> None:
        for launch in self._launches.values():
            launch.terminate()
        while self._launches:
            _, launch = self._launches.popitem()
            launch.stop()


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: start only what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needed = {name for item in items for name in getattr(item, "fixturenames", ()) if name in LAUNCHERS}
    config.stash[_NEEDED] = frozenset(needed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    seconds = config.stash.get(_STARTUP_SECONDS, {})
    if seconds:
        started = ", ".join(f"{name} {s:.2f} s" for name, s in sorted(seconds.items()))
        terminalreporter.write_line(f"real servers answered after: {started} (started together)")


@pytest.fixture(scope="session")
def _murmur_server_pool(request: pytest.FixtureRequest) -> Iterator[ServerPool]:
    needed: frozenset[str] = request.config.stash.get(_NEEDED, frozenset())
    pool = ServerPool(needed, STARTUP_TIMEOUT_SECONDS)
    request.config.stash[_STARTUP_SECONDS] = pool.startup_seconds
    try:
        yield pool
    finally:
        pool.stop_all()


def _serve(pool: ServerPool, name: str) -> Any:
    try:
        return pool.get(name)
    except ServerStartError as exc:
        error = exc
    server_unavailable(name, error.reason, error.details)  # outside except: no chained traceback


@pytest.fixture(scope="session")
def redis_server(_murmur_server_pool: ServerPool) -> RedisServer:
    """Debian's redis-server, no persistence."""
    server: RedisServer = _serve(_murmur_server_pool, "redis_server")
    return server


@pytest.fixture(scope="session")
def moto_server(_murmur_server_pool: ServerPool) -> MotoServer:
    """moto's server (DynamoDB, SQS, ...); connect with `**moto_server.client_kwargs()`."""
    server: MotoServer = _serve(_murmur_server_pool, "moto_server")
    return server


@pytest.fixture(scope="session")
def mongo_server(_murmur_server_pool: ServerPool) -> MongoServer:
    """SecantusDB, in memory, a single-node replica set (transactions work)."""
    server: MongoServer = _serve(_murmur_server_pool, "mongo_server")
    return server


@pytest.fixture(scope="session")
def bolt_server(_murmur_server_pool: ServerPool) -> BoltServer:
    """FalkorDB's Bolt endpoint behind the test relay; connect with auth=None."""
    server: BoltServer = _serve(_murmur_server_pool, "bolt_server")
    return server


@pytest_asyncio.fixture
async def bolt_driver(bolt_server: BoltServer) -> AsyncIterator[AsyncDriver]:
    """A neo4j async driver for this test's event loop.

    Per test, not per session: an async driver's connections belong to the event loop
    that opened them, and each test has its own loop. Opening and closing drivers is
    safe here because the relay keeps GOODBYE (which hangs FalkorDB's next handshake)
    from reaching the server.
    """
    from neo4j import AsyncGraphDatabase  # here: only runs that use Bolt pay for the import

    driver = AsyncGraphDatabase.driver(bolt_server.uri, auth=None)
    try:
        yield driver
    finally:
        await driver.close()
