"""How uvicorn serves the API: the whole configuration in one place (`murmur serve` and the
tests' in-thread server both use uvicorn_config), and the HTTP protocol that bounds slow
clients.

uvicorn (httptools) has a keep-alive timeout and a concurrency limit, but nothing bounds
how long a request's headers or body may take to arrive: a client sending a byte every few
seconds held a connection for ever. TimedHttpToolsProtocol adds, per connection:

- headers: a request's headers must all arrive within header_timeout_seconds of its first
  byte (for the first request, of the connection opening). Late: 408 and the connection
  closes; a connection that sent nothing at all is just closed.
- body: the whole body must arrive within body_timeout_seconds of the headers. Late: 408 and
  the connection closes (only closes, if an answer was already sent). The deadline holds
  even if the app answered without reading the body (the rate limits' 429): uvicorn then
  keeps the connection and discards the rest of the body as it comes, and any byte stops
  its keep-alive timer until the next answer, so a client trickling the body in held the
  connection for ever; and once the body is in, the keep-alive timer starts again here.
- admission: a connection opened while max_connections are already open, or while its
  client (an IPv4 address, an IPv6 /64) already holds max_connections_per_client, is
  answered 503 and closed at once; the connections already open keep being served.
  uvicorn's own limit_concurrency check answers 503 to every request on every connection
  while the count is at the limit, so a flood of idle connections took the API down for
  everyone; here it is decided once, per connection, and one client cannot take every slot.
  The per-client cap counts socket peers, so it applies only when clients reach the API
  directly (trusted_proxies 0): behind a proxy, the proxy holds the client's connection
  and reaches the API with complete requests. A websocket leaves this count once upgraded
  (api/websocket.py caps sockets per account and per client address).
- the answers written here (408, 503) carry the headers the app's answers do:
  nosniff, no-store, and HSTS when TLS ends in front (api/security_headers.py).

One timer per connection, moved lazily: starting a phase only records a deadline (loop
time) and arms a timer if none is pending earlier; when the timer fires it re-arms itself
for the current deadline if that moved. A busy keep-alive connection costs a timer about
every header_timeout_seconds, not two per request.
"""

from __future__ import annotations

import asyncio
import errno
import math
import socket
from collections import Counter
from typing import Any, ClassVar

import uvicorn
from prometheus_client import Counter as Metric
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.client_address import address_key
from api.security_headers import HSTS, NO_STORE, NOSNIFF
from murmur.settings import Settings

CONNECTIONS_REFUSED = Metric(
    "murmur_connections_refused_total",
    "Connections answered 503 and closed as they opened: over max_connections, or over the client's share",
    ["reason"],
)

# what the connection is waiting for, and so which deadline applies
_IDLE = 0  # nothing: between requests (keep-alive governs), or the app is answering
_OPENED = 1  # the first byte of the first request, counted from the connection opening
_HEADERS = 2  # the rest of a request's headers
_BODY = 3  # the rest of a request's body


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines (class attributes:
    timed_protocol sets them from settings) and per-connection admission (at most
    config.limit_concurrency connections open)."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 10.0
    per_client: ClassVar[int | None] = None  # None: not capped (behind trusted proxies)
    extra_headers: ClassVar[tuple[tuple[bytes, bytes], ...]] = (NOSNIFF, NO_STORE)
    open_by_client: ClassVar[Counter[str]] = Counter()

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._max_connections = config.limit_concurrency
        self._phase = _IDLE
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._client_key: str | None = None  # counted in open_by_client while set

    # connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn answers 503 while len(connections) >= limit_concurrency: None never, for a
        # connection admitted when it opened (the refused ones are closed right here)
        self.limit_concurrency = None
        limit = self._max_connections
        if limit is not None and len(self.connections) > limit:
            self._refuse("max_connections")
            return
        if self.per_client is not None and self.client is not None:
            key = address_key(self.client[0])
            if self.open_by_client[key] >= self.per_client:
                self._refuse("per_client")
                return
            self.open_by_client[key] += 1
            self._client_key = key
        self._expect(_OPENED, self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self._release_client()
        super().connection_lost(exc)

    def _refuse(self, reason: str) -> None:
        CONNECTIONS_REFUSED.labels(reason).inc()
        self._answer_and_close(503, "Service Unavailable")

    def _release_client(self) -> None:
        if self._client_key is not None:
            self.open_by_client[self._client_key] -= 1
            if self.open_by_client[self._client_key] <= 0:
                del self.open_by_client[self._client_key]
            self._client_key = None

    def data_received(self, data: bytes) -> None:
        if self._phase == _IDLE:  # these bytes begin a request (or are stray CRLFs: no matter)
            self._expect(_HEADERS, self.header_timeout)
        elif self._phase == _OPENED:
            self._phase = _HEADERS  # the deadline still counts from the connection opening
        super().data_received(data)

    def handle_websocket_upgrade(self) -> None:
        self._stop()  # the websocket protocol owns the transport from here: no timer of ours
        self._release_client()  # nor a place in this count (connection_lost will not come here)
        self._unset_keepalive_if_required()
        super().handle_websocket_upgrade()

    # parser callbacks

    def on_message_begin(self) -> None:
        if self._phase == _IDLE:  # a pipelined request, in the same bytes as the one before
            self._expect(_HEADERS, self.header_timeout)
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._expect(_BODY, self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        super().on_message_complete()
        cycle = self.cycle
        if (
            cycle is not None
            and cycle.response_complete
            and self.timeout_keep_alive_task is None
            and not (self.parser.should_upgrade() and self._should_upgrade())
        ):
            # answered before the body was all in: the body's bytes stopped uvicorn's keep-alive
            # timer, and uvicorn starts it only after an answer, so the connection idled for ever
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    # deadlines

    def _expect(self, phase: int, seconds: float) -> None:
        deadline = self.loop.time() + seconds
        self._phase = phase
        self._deadline = deadline
        if self._timer is None or self._timer_at > deadline:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(deadline, self._on_timer)
        self._timer_at = deadline

    def _stop(self) -> None:
        self._phase = _IDLE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._phase == _IDLE or self.transport.is_closing():
            return
        if self.loop.time() < self._deadline:  # the phase moved on since the timer was armed
            self._arm(self._deadline)
            return
        phase, self._phase = self._phase, _IDLE
        cycle = self.cycle  # during _HEADERS the previous request's, during _BODY this one's
        if phase == _OPENED:
            self.transport.close()  # nothing was asked: nothing to answer
        elif phase == _HEADERS:
            if cycle is not None and not cycle.response_complete:
                # the request before this one is still being answered: close after it
                cycle.keep_alive = False
            else:
                self._answer_and_close(408, "Request Timeout")
        elif cycle is None or cycle.response_started or self.pipeline:
            # answered already (or another answer is in flight): a 408 cannot be said
            self.transport.close()
        else:
            # as connection_lost would: the app's receive() says disconnected, its sends go
            # nowhere, and uvicorn writes no 500 when it returns
            cycle.disconnected = True
            cycle.message_event.set()
            self._answer_and_close(408, "Request Timeout")

    def _answer_and_close(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        content = [STATUS_LINE[status]]
        for name, value in (*self.server_state.default_headers, *self.extra_headers):
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def timed_protocol(settings: Settings) -> type[TimedHttpToolsProtocol]:
    """The protocol class with these settings' limits (uvicorn instantiates it per connection)."""
    api = settings.api
    direct = settings.rate_limit.trusted_proxies == 0

    class Configured(TimedHttpToolsProtocol):
        header_timeout = api.header_timeout_seconds
        body_timeout = api.body_timeout_seconds
        per_client = api.max_connections_per_client if direct else None
        extra_headers = (NOSNIFF, NO_STORE, *((HSTS,) if api.behind_tls else ()))
        open_by_client: ClassVar[Counter[str]] = Counter()  # this server's connections

    Configured.__name__ = Configured.__qualname__ = "TimedHttpToolsProtocol"
    return Configured


def uvicorn_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How the API is served; `overrides` are uvicorn.Config arguments (the tests' port 0)."""
    api = settings.api
    options: dict[str, Any] = {
        "host": api.host,
        "port": api.port,
        "loop": "uvloop",
        "http": timed_protocol(settings),
        "ws": "websockets-sansio",
        # the HTTP body limit does not cover websocket frames
        "ws_max_size": api.max_body_bytes,
        # uvicorn takes whole seconds here: rounded up, never shorter than configured
        "timeout_keep_alive": math.ceil(api.keep_alive_seconds),
        # the protocol's per-connection admission limit (see the module docstring)
        "limit_concurrency": api.max_connections,
        # the client address comes from api/client_address.py, by trusted_proxies, only:
        # uvicorn's own handling trusts whatever 127.0.0.1 says
        "proxy_headers": False,
        "log_level": "info",
        "access_log": False,
    }
    return uvicorn.Config(app, **{**options, **overrides})


def unavailable_ports(settings: Settings) -> list[str]:
    """One line per address `murmur serve` would listen on and cannot (another process holds
    it), checked before anything starts: uvicorn finds out only after the app's start-up,
    the workers and the seeding have begun. Each address is bound and closed again as
    uvicorn will bind it (SO_REUSEADDR, every address the host name resolves to)."""
    wanted = [("API", "--port N", "MURMUR_API__PORT", settings.api.host, settings.api.port)]
    if settings.metrics_port is not None and settings.metrics_port != settings.api.port:
        wanted.append(
            ("metrics", "", "MURMUR_API__METRICS_PORT", settings.api.metrics_host, settings.metrics_port)
        )
    lines = []
    for role, option, variable, host, port in wanted:
        problem = _bind_problem(host, port)
        if problem is None:
            continue
        how = f'--port N (`make run RUN_ARGS="--port N"`) or {variable}=N' if option else f"{variable}=N"
        lines.append(
            f"cannot serve the {role} on {host}:{port}: {problem}; is another Murmur running? "
            f"Stop it, or pick another port with {how}"
        )
    return lines


def _bind_problem(host: str, port: int) -> str | None:
    if port == 0:
        return None  # any free port
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"cannot resolve {host!r} ({exc})"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return "the port is in use"
                return exc.strerror or str(exc)
    return None
