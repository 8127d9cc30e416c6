"""Issue 16, findings 8 and 5, against `murmur serve` over real sockets.

Finding 8: 50 connections sending partial headers or slow bodies were still open after
90 s, and nothing limited how many a client could hold. Finding 5: a client chose its own
rate-limit budget with X-Forwarded-For (the leftmost entry was taken, and uvicorn rewrote
the client address for anything connecting from 127.0.0.1)."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable

import httpx
import pytest
from hostile_server import Served

from devstack.cloud import HOST
from tests.support import trickle

StartServer = Callable[..., Served]

SLACK = 5.0  # a loaded machine may close late; never early
PARTIAL_HEADERS = b"POST /graphql HTTP/1.1\r\nHost: murmur\r\nContent-Type: application/json\r\nX-Slow: "
TYPENAME = b'{"query": "{ __typename }"}'


def _slow_body(sent: bytes = b'{"query": ') -> bytes:
    """A request whose body says 1000 bytes and brings only these."""
    return (
        b"POST /graphql HTTP/1.1\r\nHost: murmur\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + sent
    )


def _request(path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: murmur\r\n\r\n".encode()


def _connect(served: Served) -> socket.socket:
    return socket.create_connection((HOST, served.port), timeout=10)


def _closed_after(
    socks: list[socket.socket], within: float, probe: Callable[[], None] | None = None
) -> list[tuple[bytes, float]]:
    """Wait until the server has closed every socket: (what it wrote, seconds from now until
    the close) for each. Fails with the ones still open after `within` s. `probe` runs
    between waits (a request the server must keep answering meanwhile)."""
    started = time.monotonic()
    data = {sock: b"" for sock in socks}
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, data=sock)
        while len(closed) < len(socks):
            left = started + within - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{len(socks) - len(closed)} of {len(socks)} still open after {within} s"
                )
            for key, _ in selector.select(timeout=min(left, 0.5)):
                sock = key.data
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                data[sock] += chunk
                if not chunk:
                    closed[sock] = time.monotonic() - started
                    selector.unregister(sock)
            if probe is not None:
                probe()
    return [(data[sock], closed[sock]) for sock in socks]


def _healthz_answers(served: Served) -> Callable[[], None]:
    def probe() -> None:
        answer = httpx.get(served.base("/healthz"), timeout=5)
        assert answer.status_code == 200

    return probe


def _response(sock: socket.socket) -> bytes:
    """One whole response (Content-Length framed), nothing after it read."""
    sock.settimeout(10)
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed mid-response: {head!r}"
        head += byte
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"content-length:")
    )
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        assert chunk, f"closed mid-body: {head + body!r}"
        body += chunk
    return head + body


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


# --- finding 8: slow clients ------------------------------------------------------------


def test_fifty_slow_clients_are_cut_off_with_the_default_timeouts(server: Served) -> None:
    """The finding as reported, on the development defaults (10 s for headers, 10 s for a
    body): 25 connections stall in their headers, 25 in their bodies. All are answered 408
    and closed within the timeout, and /healthz answers all along."""
    socks = [_connect(server) for _ in range(50)]
    for i, sock in enumerate(socks):
        sock.sendall(PARTIAL_HEADERS if i % 2 else _slow_body())
    closes = _closed_after(socks, 10 + SLACK, probe=_healthz_answers(server))
    assert [_status(data) for data, _ in closes] == [408] * 50
    assert min(seconds for _, seconds in closes) >= 8  # the timeout, not something sooner


def test_partial_headers_are_closed_within_the_header_timeout(start_server: StartServer) -> None:
    served = start_server({"MURMUR_API__HEADER_TIMEOUT_SECONDS": "1"})
    silent, partial, trickling = (_connect(served) for _ in range(3))
    partial.sendall(PARTIAL_HEADERS)
    trickling.sendall(b"POST /graphql HTTP/1.1\r\n")
    started = time.monotonic()
    # a header line every 0.2 s must not move the deadline: it counts from the first byte
    trickle(trickling, b"X-Slow: 1\r\n", within=1 + SLACK, every=0.2)
    closes = _closed_after([silent, partial, trickling], 1 + SLACK, probe=_healthz_answers(served))
    assert [_status(data) for data, _ in closes] == [0, 408, 408]  # nothing sent: nothing said
    assert time.monotonic() - started < 1 + SLACK


def test_a_slow_body_gets_408_and_is_closed(start_server: StartServer) -> None:
    served = start_server({"MURMUR_API__BODY_TIMEOUT_SECONDS": "1"})
    stalled, trickling = _connect(served), _connect(served)
    stalled.sendall(_slow_body())
    trickling.sendall(_slow_body(b""))
    started = time.monotonic()
    trickle(trickling, b" ", within=1 + SLACK, every=0.2)  # a byte every 0.2 s: no more time
    closes = _closed_after([stalled, trickling], 1 + SLACK, probe=_healthz_answers(served))
    assert [_status(data) for data, _ in closes] == [408, 408]
    assert time.monotonic() - started < 1 + SLACK


def test_a_body_still_trickling_after_an_early_answer_is_cut_off(start_server: StartServer) -> None:
    """The rate limits answer 429 before reading the body; uvicorn then keeps the connection
    and discards the body as it comes. A client trickling it held the connection for ever."""
    served = start_server(
        {
            "MURMUR_API__BODY_TIMEOUT_SECONDS": "1",
            "MURMUR_API__KEEP_ALIVE_SECONDS": "30",
            "MURMUR_RATE_LIMIT__PER_IP": "1/minute",
        }
    )
    assert served.post("{ __typename }").status_code == 200  # the budget, spent
    with _connect(served) as sock:
        sock.sendall(_slow_body(b""))
        started = time.monotonic()
        assert _status(_response(sock)) == 429
        closed = False
        while not closed and time.monotonic() - started < 1 + SLACK:
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            sock.settimeout(0.2)
            try:
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
        assert time.monotonic() - started < 1 + SLACK


def test_past_max_connections_new_connections_get_503_and_open_ones_keep_working(
    start_server: StartServer,
) -> None:
    limit = 20
    served = start_server({"MURMUR_API__MAX_CONNECTIONS": str(limit), "MURMUR_API__KEEP_ALIVE_SECONDS": "60"})
    admitted: list[socket.socket] = []
    waiting: list[socket.socket] = []
    try:
        deadline = time.monotonic() + SLACK
        while len(admitted) < limit:  # (the readiness probe's connection may still count a moment)
            sock = _connect(served)
            sock.sendall(_request())
            if _status(_response(sock)) == 200:
                admitted.append(sock)
            else:
                sock.close()
                assert time.monotonic() < deadline, f"only {len(admitted)} connections admitted"
        refused = [_connect(served) for _ in range(5)]
        for sock in refused:
            sock.sendall(_request())
        assert [_status(data) for data, _ in _closed_after(refused, SLACK)] == [503] * 5
        waiting = [_connect(served) for _ in range(3)]  # past the limit, connected, silent
        for sock in admitted:
            sock.sendall(_request("/graphql?query=%7B__typename%7D"))
            assert _status(_response(sock)) == 200
        for sock in waiting:
            sock.sendall(_request())
        assert [_status(data) for data, _ in _closed_after(waiting, SLACK)] == [503] * 3
    finally:
        for sock in admitted + waiting:
            sock.close()


# --- finding 5: X-Forwarded-For --------------------------------------------------------

QUERY = {"query": "{ __typename }"}


def _statuses(client: httpx.Client, served: Served, forwarded_for: list[str]) -> list[int]:
    return [
        client.post(served.url, json=QUERY, headers={"X-Forwarded-For": value}).status_code
        for value in forwarded_for
    ]


def test_without_trusted_proxies_forwarded_for_is_ignored(start_server: StartServer) -> None:
    """The default: the client is the socket peer, whatever the header says (uvicorn
    rewrote it for anything connecting from 127.0.0.1)."""
    served = start_server({"MURMUR_RATE_LIMIT__PER_IP": "3/minute"})
    with httpx.Client(timeout=30) as client:
        statuses = _statuses(client, served, [f"198.51.100.{i}" for i in range(1, 7)])
    assert statuses == [200, 200, 200, 429, 429, 429]


@pytest.mark.parametrize(
    "trust",
    [{"MURMUR_RATE_LIMIT__TRUSTED_PROXIES": "1"}, {"MURMUR_RATE_LIMIT__TRUST_FORWARDED_FOR": "true"}],
    ids=["trusted_proxies", "deprecated_trust_forwarded_for"],
)
def test_behind_one_proxy_the_client_is_the_address_it_appended(
    start_server: StartServer, trust: dict[str, str]
) -> None:
    """An ALB (here: connecting from 127.0.0.2, as an ALB is not on the pod's loopback)
    appends the address it saw to whatever X-Forwarded-For the client sent. A client making
    up a new entry for every request still spends its own budget; another client does not."""
    served = start_server({"MURMUR_RATE_LIMIT__PER_IP": "3/minute", **trust})
    alb = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=alb, timeout=30) as client:
        spoofing = _statuses(client, served, [f"198.51.100.{i}, 203.0.113.9" for i in range(1, 7)])
        other = _statuses(client, served, ["198.51.100.1, 203.0.113.10"])
    assert spoofing == [200, 200, 200, 429, 429, 429]
    assert other == [200]


# --- the outside review: one client holding every slot; what the raw answers carry ---------


def test_one_client_cannot_hold_every_connection(start_server: StartServer) -> None:
    """Review: 2,005 silent connections from one address took every slot, and other clients
    got 503 for as long as the attacker reconnected. Now a client's connections past its
    share are answered 503 and closed as they open, and another client is served."""
    served = start_server({"MURMUR_API__MAX_CONNECTIONS_PER_CLIENT": "5", "MURMUR_API__BEHIND_TLS": "true"})
    held = [_connect(served) for _ in range(5)]  # silent: each keeps its place a while
    try:
        refused = [_connect(served) for _ in range(3)]
        closes = _closed_after(refused, SLACK)  # nothing sent: refused before a word is read
        assert [_status(data) for data, _ in closes] == [503] * 3
        head = closes[0][0].lower()
        for header in (
            b"x-content-type-options: nosniff",
            b"cache-control: no-store",
            b"strict-transport-security",
        ):
            assert header in head, head
        other = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=other, timeout=10) as client:
            assert client.get(served.base("/healthz")).status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_behind_a_proxy_connections_are_not_counted_per_peer(start_server: StartServer) -> None:
    """Behind an ALB every connection comes from the ALB's few addresses: a cap per peer would
    refuse everyone, so it is off (the ALB holds the clients' own connections)."""
    served = start_server(
        {"MURMUR_API__MAX_CONNECTIONS_PER_CLIENT": "2", "MURMUR_RATE_LIMIT__TRUSTED_PROXIES": "1"}
    )
    socks = [_connect(served) for _ in range(4)]
    try:
        for sock in socks:
            sock.sendall(_request())
            assert _status(_response(sock)) == 200
    finally:
        for sock in socks:
            sock.close()


def test_a_timed_out_body_leaves_no_traceback_and_carries_the_headers(start_server: StartServer) -> None:
    """Review: each stalled body logged a 60-line ClientDisconnect traceback (a log flood
    for anyone), and the 408 carried none of the security headers."""
    served = start_server(
        {"MURMUR_API__BODY_TIMEOUT_SECONDS": "1", "MURMUR_API__BEHIND_TLS": "true"}, production=True
    )
    socks = [_connect(served) for _ in range(3)]
    for sock in socks:
        sock.sendall(_slow_body())
    closes = _closed_after(socks, 1 + SLACK)
    assert [_status(data) for data, _ in closes] == [408] * 3
    assert b"strict-transport-security" in closes[0][0].lower()
    httpx.get(served.base("/healthz"), timeout=5)  # the log is written before this answers
    log = served.log(lines=400)
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
