"""A real uvicorn server running Murmur on a free loopback port, in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from api.app import create_app
from api.server import uvicorn_config
from devstack.cloud import LoopbackEndpoints
from murmur.settings import Settings


class LiveServer(LoopbackEndpoints):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # the configuration `murmur serve` runs, on loopback
        config = uvicorn_config(
            create_app(settings),
            settings,
            host="127.0.0.1",
            port=0,  # the OS picks a free port; read back once bound
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="murmur-e2e-server", daemon=True)
        self.port = 0

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the e2e server did not start")
            time.sleep(0.02)
        sockets: list[Any] = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


def serving(settings: Settings) -> Iterator[LiveServer]:
    """A started server for a fixture to yield from; stopped when the fixture ends."""
    server = LiveServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
