"""Refuse request bodies over a size limit with 413, before the app reads them whole; a client
that leaves before its body is in ends its request quietly.

Pure ASGI (not BaseHTTPMiddleware, which costs every request a task and a copy).
"""

from __future__ import annotations

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            # chunked bodies declare no length: count what arrives
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if started:
                raise
            await self._refuse(send)
        except ClientDisconnect:
            # the client is gone before its body was in (or the body timeout cut it off: the
            # protocol answered 408): nothing to answer, nothing to log
            return

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps({"errors": [{"message": f"Request body over {self.max_bytes} bytes."}]})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
