"""Response headers every browser-facing answer should carry, as a pure ASGI middleware.

- /graphql (any status, including the 413 and 429 the limits answer, so it wraps them):
  `X-Content-Type-Options: nosniff`, so a browser never runs an answer as another type, and
  `Cache-Control: no-store`, so no cache or proxy keeps an answer, a login's token included.
- every answer, when TLS terminates in front of the API (`MURMUR_API__BEHIND_TLS`):
  `Strict-Transport-Security`, so a browser that saw it never speaks plain HTTP to the host.

A header the answer already has is kept (GraphiQL's page sets its own Cache-Control next to
its Content-Security-Policy). Pure ASGI, not BaseHTTPMiddleware: that one runs every
request in a task of its own; this only rewrites the start message on its way out.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

GRAPHQL_PATH = "/graphql"
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = (b"cache-control", b"no-store")
# a year, the subdomains too: what HSTS preload lists ask for
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")

Header = tuple[bytes, bytes]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, behind_tls: bool = False) -> None:
        self.app = app
        everywhere = (HSTS,) if behind_tls else ()
        self._graphql: tuple[Header, ...] = (NOSNIFF, NO_STORE, *everywhere)
        self._other: tuple[Header, ...] = everywhere

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websockets and lifespan pass untouched
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        added = self._graphql if path == GRAPHQL_PATH or path.startswith(GRAPHQL_PATH + "/") else self._other
        if not added:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with(message.get("headers", ()), added)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with(headers: Sequence[Header], added: Sequence[Header]) -> list[Header]:
    """The answer's headers and those of `added` it does not have yet (names are lowercase
    bytes in ASGI; Starlette writes them so)."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(header for header in added if header[0] not in present)]
