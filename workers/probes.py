"""The worker's own HTTP port: /healthz, /readyz and /metrics, for Kubernetes and Prometheus.

Served from a thread by the standard library's WSGI server (the worker has no web
framework and needs none for three GET routes); the answers come from flags the event
loop keeps, read without touching the loop:

- /healthz: 200 while the event loop keeps beating (a loop stuck for 30 s is not alive);
- /readyz: 200 while the consumers run and their last receives worked; 503 while
  starting, after a failed receive, and once shutdown began (so no new traffic is sent);
- /metrics: prometheus_client's registry (messages by lane and outcome, deliveries,
  chunk latency, delivery lag, queue wait, messages in flight, store operations).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

STUCK_AFTER_SECONDS = 30.0
_BEAT_SECONDS = 1.0

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: no log line each
        pass


class Probes:
    def __init__(self, *, ready: Callable[[], bool]) -> None:
        self._ready = ready
        self._beat = time.monotonic()
        self._metrics = make_wsgi_app()

    def alive(self) -> bool:
        return time.monotonic() - self._beat < STUCK_AFTER_SECONDS

    async def heartbeat(self) -> None:
        """Run on the event loop: proves to /healthz that the loop is not stuck."""
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(_BEAT_SECONDS)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _status(start_response, self.alive())
        if path == "/readyz":
            return _status(start_response, self.alive() and self._ready())
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]


def _status(start_response: StartResponse, ok: bool) -> list[bytes]:
    start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "application/json")])
    return [b'{"ok": true}\n' if ok else b'{"ok": false}\n']


@contextlib.contextmanager
def serving(probes: Probes, *, host: str, port: int) -> Iterator[int]:
    """Serve the probes from a thread while the block runs; yields the bound port."""
    server = make_server(host, port, probes, server_class=_Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="worker-probes", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
