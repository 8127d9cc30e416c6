"""The GraphQL context: the request, the viewer, the platform and the request's DataLoaders.

The viewer's token is verified when an operation first asks who the viewer is — signature,
expiry and revocation (a store read, through the cache), so an operation that never asks
costs nothing. Over HTTP the context is the request's; on a websocket the context is the
socket's, and the handler verifies again before every operation and every event, so a token
that expires or is revoked stops working on an open socket too (api/websocket.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.client_address import budget_key
from api.errors import unauthenticated
from api.loaders import Loaders
from murmur.auth import TokenClaims
from murmur.domain import InvalidToken, NotAuthenticated, TooManyAttempts, UserId
from murmur.settings import Settings

if TYPE_CHECKING:
    from api.rate_limit import RateLimits, Verdict
    from murmur.platform import Platform

# a websocket closed because its token expired or was revoked (graphql-transport-ws: Unauthorized)
UNAUTHORIZED = 4401


def bearer_token(authorization: object) -> str | None:
    """The token of an `Authorization: Bearer <token>` value."""
    if not isinstance(authorization, str):
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _authorization_param(params: dict[str, object]) -> object:
    """The `authorization` entry of a connection_init payload, whatever its case: GraphiQL
    copies its Headers pane into the payload as typed ("Authorization"), and HTTP header
    names are case-insensitive, which clients carry over."""
    return next((value for key, value in params.items() if key.lower() == "authorization"), None)


class Context:
    """One per HTTP request; one per websocket connection (shared by its subscriptions)."""

    def __init__(
        self,
        *,
        platform: Platform,
        request: Request | WebSocket,
        response: Response | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.platform = platform
        self.request = request
        self.response = response  # an HTTP answer's headers (Retry-After); None on a websocket
        self.limits = limits  # None when rate limits are off
        # set by Strawberry from the websocket `connection_init` payload
        self.connection_params: dict[str, object] | None = None
        # set by the websocket handler: closes the socket (code, reason)
        self.close_socket: Callable[[int, str], Awaitable[None]] | None = None
        self.loaders = Loaders(platform.backends)
        self.claims: TokenClaims | None = None
        self._verified = False
        # a token was sent but cannot be used: answers that need a login say so
        self.token_problem: InvalidToken | None = None

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    async def viewer(self) -> UserId | None:
        """The logged-in user (verified on first use)."""
        if not self._verified:
            await self.verify_viewer()
        return self.claims.user_id if self.claims is not None else None

    async def verify_viewer(self) -> UserId | None:
        """Verify the token sent, if any: signed by Murmur, unexpired, not revoked."""
        self.claims, self.token_problem = None, None
        token = self.token
        if token:
            try:
                self.claims = await self.platform.accounts.current(token)
            except InvalidToken as problem:
                self.token_problem = problem
        self._verified = True
        return self.claims.user_id if self.claims is not None else None

    @property
    def token(self) -> str | None:
        """The bearer token: from connection_init on a websocket, else the Authorization header."""
        return bearer_token(_authorization_param(self.connection_params or {})) or bearer_token(
            self.request.headers.get("authorization")
        )

    @property
    def client_address(self) -> str:
        """The client's budget key: its address, or its IPv6 /64."""
        return budget_key(self.request.scope)

    async def require_viewer(self) -> UserId:
        viewer = await self.viewer()
        if viewer is None:
            raise self.token_problem or NotAuthenticated()
        return viewer

    def refuse_unless(self, verdict: Verdict) -> None:
        """Raise TooManyAttempts (with Retry-After over HTTP) unless the verdict allows."""
        if verdict.allowed:
            return
        if self.response is not None:
            self.response.headers["retry-after"] = str(verdict.retry_after_seconds)
        raise TooManyAttempts(retry_after_seconds=verdict.retry_after_seconds)

    def login_required(self, message: str) -> GraphQLError:
        """The error for a field that needs a login: why the token failed, if one was sent."""
        return unauthenticated(self.token_problem.message if self.token_problem else message)

    def fresh_loaders(self) -> Loaders:
        """Start over with empty DataLoaders (a long-lived subscription must not serve stale data)."""
        self.loaders = Loaders(self.platform.backends)
        return self.loaders


Info: TypeAlias = strawberry.Info[Context, None]
