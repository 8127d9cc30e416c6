"""How the API is served (api/server.py): the uvicorn configuration built from settings, and
the HTTP protocol's header and body deadlines and connection admission, over real sockets
against a real uvicorn (issue 16, finding 8). tests/hostile/ attacks `murmur serve` itself."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from api_helpers import make_settings
from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.sync.client import connect as ws_connect

from api.server import TimedHttpToolsProtocol, uvicorn_config
from tests.support import trickle

SLACK = 2.0  # a loaded test machine may be late; never early
Make = Callable[..., int]


# --- apps ------------------------------------------------------------------------------


async def _answer(send: Send, status: int = 200, body: bytes = b"ok") -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Echo:
    """Reads the whole body (recording what receive() said), answers its length; waits
    `think` seconds first if asked (a slow app, not a slow client)."""

    def __init__(self, think: float = 0.0) -> None:
        self.think = think
        self.received: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            while (message := await receive())["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message.get("text")})
            return
        if scope["type"] != "http":
            return
        size, more = 0, True
        while more:
            message = await receive()
            self.received.append(message["type"])
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if self.think:
            await asyncio.sleep(self.think)
        await _answer(send, body=str(size).encode())


async def early(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers without reading the body, as the rate limits do."""
    if scope["type"] == "http":
        await _answer(send, 429, b"later")


# --- a server in a thread, raw sockets -------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Make]:
    """Serve an app with the real configuration and these ApiSettings; its port."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def make(app: ASGIApp, **api: Any) -> int:
        settings = make_settings(tmp_path, api=api)
        config = uvicorn_config(app, settings, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        port: int = server.servers[0].sockets[0].getsockname()[1]
        return port

    yield make
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=30)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _until_closed(sock: socket.socket, within: float) -> bytes:
    """Everything the server writes until it closes the connection; fails after `within` s."""
    data = b""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"still open after {within} s; got {data!r}")


def _response(sock: socket.socket) -> bytes:
    """One whole response (Content-Length framed); read byte by byte so that a pipelined
    answer after it stays unread in the socket."""
    sock.settimeout(10)
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"closed mid-response: {head!r}"
        head += byte
    lengths = [line.split(b":")[1] for line in head.split(b"\r\n") if line.startswith(b"content-length:")]
    body = b""
    while len(body) < int(lengths[0]):
        chunk = sock.recv(int(lengths[0]) - len(body))
        assert chunk, f"closed mid-body: {head + body!r}"
        body += chunk
    return head + body


def _post(body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size + body


def _still_open(sock: socket.socket, for_seconds: float) -> bool:
    """Nothing written and not closed for this long (what was written stays unread)."""
    sock.settimeout(for_seconds)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    except ConnectionResetError:
        pass
    return False


# --- the configuration -----------------------------------------------------------------


def test_the_configuration_comes_from_settings(tmp_path: Path) -> None:
    api = {
        "host": "0.0.0.0",
        "port": 8123,
        "header_timeout_seconds": 3.5,
        "body_timeout_seconds": 7.0,
        "keep_alive_seconds": 61.5,
        "max_connections": 321,
        "max_body_bytes": 4096,
    }
    config = uvicorn_config(Echo(), make_settings(tmp_path, api=api))
    assert (config.host, config.port, config.loop, config.ws) == (
        "0.0.0.0",
        8123,
        "uvloop",
        "websockets-sansio",
    )
    assert config.ws_max_size == 4096
    assert config.timeout_keep_alive == 62  # uvicorn counts whole seconds: rounded up
    assert config.limit_concurrency == 321
    assert config.proxy_headers is False  # the client address is api/client_address.py's alone
    assert (config.log_level, config.access_log) == ("info", False)
    protocol = config.http
    assert isinstance(protocol, type) and issubclass(protocol, TimedHttpToolsProtocol)
    assert (protocol.header_timeout, protocol.body_timeout) == (3.5, 7.0)


def test_overrides_win(tmp_path: Path) -> None:
    config = uvicorn_config(Echo(), make_settings(tmp_path), port=0, log_level="warning")
    assert (config.port, config.log_level, config.limit_concurrency) == (0, "warning", 2000)


def test_uvicorn_rewrites_no_client_address(tmp_path: Path) -> None:
    config = uvicorn_config(Echo(), make_settings(tmp_path))
    config.load()
    assert type(config.loaded_app).__name__ != "ProxyHeadersMiddleware"


# --- headers ---------------------------------------------------------------------------


def test_partial_headers_get_408_and_the_connection_closes(serve: Make) -> None:
    port = serve(Echo(), header_timeout_seconds=0.4)
    with _connect(port) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        started = time.monotonic()
        answer = _until_closed(sock, 0.4 + SLACK)
        assert time.monotonic() - started >= 0.3
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(serve: Make) -> None:
    port = serve(Echo(), header_timeout_seconds=0.4)
    with _connect(port) as sock:
        assert _until_closed(sock, 0.4 + SLACK) == b""


def test_trickled_headers_do_not_move_the_deadline(serve: Make) -> None:
    port = serve(Echo(), header_timeout_seconds=0.6)
    with _connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /x HTTP/1.1\r\n")
        assert trickle(sock, b"X: y\r\n", within=0.6 + SLACK, every=0.1)  # a header line every 0.1 s
        assert time.monotonic() - started < 0.6 + SLACK


def test_the_deadline_counts_again_for_each_request(serve: Make) -> None:
    """A keep-alive connection's next request gets its own header_timeout, from its first byte."""
    port = serve(Echo(), header_timeout_seconds=0.5, keep_alive_seconds=30)
    with _connect(port) as sock:
        sock.sendall(_post(b"a"))
        assert _response(sock).startswith(b"HTTP/1.1 200 ")
        assert _still_open(sock, 0.7)  # idle past the header timeout: keep-alive governs
        sock.sendall(b"GET /x HTTP/1.1\r\n")
        assert _until_closed(sock, 0.5 + SLACK).startswith(b"HTTP/1.1 408 ")


def test_a_stalled_pipelined_request_lets_the_answer_before_it_finish(serve: Make) -> None:
    port = serve(Echo(think=0.8), header_timeout_seconds=0.3, keep_alive_seconds=30)
    with _connect(port) as sock:
        sock.sendall(_post(b"abc") + b"GET /next HTTP/1.1\r\nHost:")
        answer = _until_closed(sock, 0.8 + SLACK)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"\r\n\r\n3")  # the whole answer, then the connection closed
    assert b"connection: close" in answer


# --- bodies ----------------------------------------------------------------------------


def test_a_slow_body_gets_408_and_the_app_hears_the_disconnect(serve: Make) -> None:
    app = Echo()
    port = serve(app, body_timeout_seconds=0.4)
    with _connect(port) as sock:
        sock.sendall(_post(b"0123456789", length=100))
        started = time.monotonic()
        answer = _until_closed(sock, 0.4 + SLACK)
        assert time.monotonic() - started >= 0.3
    assert answer.startswith(b"HTTP/1.1 408 ")
    deadline = time.monotonic() + SLACK
    while app.received[-1:] != ["http.disconnect"]:
        assert time.monotonic() < deadline, app.received
        time.sleep(0.01)


def test_a_trickled_body_does_not_move_the_deadline(serve: Make) -> None:
    port = serve(Echo(), body_timeout_seconds=0.6)
    with _connect(port) as sock:
        sock.sendall(_post(b"", length=1000))
        started = time.monotonic()
        assert trickle(sock, b"x", within=0.6 + SLACK, every=0.1)
        assert time.monotonic() - started < 0.6 + SLACK
        answer = _until_closed(sock, SLACK)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_an_early_answer_does_not_keep_a_trickled_body_alive(serve: Make) -> None:
    """uvicorn keeps a connection whose app answered before reading the body, and discards the
    rest of the body as it comes; any byte stops its keep-alive timer. The body deadline
    still closes it (without a second answer)."""
    port = serve(early, body_timeout_seconds=0.6, keep_alive_seconds=30)
    with _connect(port) as sock:
        sock.sendall(_post(b"", length=1000))
        started = time.monotonic()
        assert _response(sock).startswith(b"HTTP/1.1 429 ")
        assert trickle(sock, b"x", within=0.6 + SLACK, every=0.1)
        assert time.monotonic() - started < 0.6 + SLACK
        assert _until_closed(sock, SLACK) == b""  # closed, with no second answer


def test_a_slow_app_is_not_a_slow_client(serve: Make) -> None:
    port = serve(Echo(think=0.6), header_timeout_seconds=0.2, body_timeout_seconds=0.2)
    with _connect(port) as sock:
        sock.sendall(_post(b"hello"))
        assert _response(sock).startswith(b"HTTP/1.1 200 ")


def test_busy_keep_alive_connections_are_never_cut_off(serve: Make) -> None:
    """Many requests, one connection, for longer than both timeouts: the lazily moved
    deadline never fires on a client that keeps up; pipelined requests are answered too."""
    port = serve(Echo(), header_timeout_seconds=0.2, body_timeout_seconds=0.2, keep_alive_seconds=30)
    with _connect(port) as sock:
        started, answered = time.monotonic(), 0
        while time.monotonic() - started < 0.8:
            sock.sendall(_post(b"x" * 100))
            assert _response(sock).endswith(b"\r\n\r\n100")
            answered += 1
        sock.sendall(_post(b"a") + _post(b"bb") + _post(b"ccc"))
        assert [_response(sock)[-1:] for _ in range(3)] == [b"1", b"2", b"3"]
    assert answered > 10


def test_keep_alive_closes_an_idle_connection(serve: Make) -> None:
    port = serve(Echo(), keep_alive_seconds=1)
    with _connect(port) as sock:
        sock.sendall(_post(b"a"))
        _response(sock)
        started = time.monotonic()
        assert _until_closed(sock, 1 + SLACK) == b""
        assert time.monotonic() - started >= 0.9


# --- admission -------------------------------------------------------------------------


def test_past_max_connections_new_connections_get_503_and_open_ones_are_served(serve: Make) -> None:
    port = serve(Echo(), max_connections=3, keep_alive_seconds=30)
    admitted = [_connect(port) for _ in range(3)]
    refused: list[socket.socket] = []
    try:
        for sock in admitted:
            sock.sendall(_post(b"a"))
            assert _response(sock).startswith(b"HTTP/1.1 200 ")
        refused = [_connect(port) for _ in range(3)]
        refused[0].sendall(_post(b"a"))
        assert _until_closed(refused[0], SLACK).startswith(b"HTTP/1.1 503 ")
        for sock in admitted:  # while the others past the limit are still connected
            sock.sendall(_post(b"bb"))
            assert _response(sock).startswith(b"HTTP/1.1 200 ")
        refused[1].sendall(_post(b"a"))
        assert _until_closed(refused[1], SLACK).startswith(b"HTTP/1.1 503 ")
        refused[2].sendall(
            b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert _until_closed(refused[2], SLACK).startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in admitted + refused:
            sock.close()
    deadline = time.monotonic() + SLACK
    while True:  # room again once they are gone (the server hears of it a moment later)
        with _connect(port) as sock:
            sock.sendall(_post(b"a"))
            if _response(sock).startswith(b"HTTP/1.1 200 "):
                break
        assert time.monotonic() < deadline


def test_a_websocket_outlives_the_header_and_body_timeouts(serve: Make) -> None:
    port = serve(Echo(), header_timeout_seconds=0.2, body_timeout_seconds=0.2)
    with ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.6)  # nothing comes, and the connection stays
        ws.send("still here")
        assert ws.recv(timeout=10) == "still here"


def test_after_an_early_answer_and_the_rest_of_the_body_keep_alive_still_closes(serve: Make) -> None:
    """The bytes of the body after the answer stop uvicorn's keep-alive timer, and uvicorn
    starts it again only after another answer: the protocol starts it once the body is in."""
    port = serve(early, keep_alive_seconds=1)
    with _connect(port) as sock:
        sock.sendall(_post(b"12345", length=10))
        assert _response(sock).startswith(b"HTTP/1.1 429 ")
        sock.sendall(b"67890")
        started = time.monotonic()
        assert _until_closed(sock, 1 + SLACK) == b""
        assert time.monotonic() - started >= 0.9
