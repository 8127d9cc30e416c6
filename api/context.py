"""The GraphQL context: the request, the viewer, the platform and the request's DataLoaders."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from starlette.websockets import WebSocket

from api.errors import unauthenticated
from api.loaders import Loaders
from murmur.domain import InvalidToken, NotAuthenticated, UserId
from murmur.settings import Settings

if TYPE_CHECKING:
    from murmur.platform import Platform


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

    def __init__(self, *, platform: Platform, request: Request | WebSocket) -> None:
        self.platform = platform
        self.request = request
        # set by Strawberry from the websocket `connection_init` payload
        self.connection_params: dict[str, object] | None = None
        self.loaders = Loaders(platform.backends)
        self._viewer: UserId | None = None
        self._authenticated = False
        # a token was sent but cannot be used: answers that need a login say so
        self.token_problem: InvalidToken | None = None

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    @property
    def viewer_id(self) -> UserId | None:
        """The logged-in user; the token is verified once, on first use."""
        if not self._authenticated:
            self._viewer = self._authenticate()
            self._authenticated = True
        return self._viewer

    def require_viewer(self) -> UserId:
        viewer = self.viewer_id
        if viewer is None:
            raise self.token_problem or NotAuthenticated()
        return viewer

    def login_required(self, message: str) -> GraphQLError:
        """The error for a field that needs a login: why the token failed, if one was sent."""
        self.viewer_id  # noqa: B018 - verifies the token, setting token_problem
        return unauthenticated(self.token_problem.message if self.token_problem else message)

    def fresh_loaders(self) -> Loaders:
        """Start over with empty DataLoaders (a long-lived subscription must not serve stale data)."""
        self.loaders = Loaders(self.platform.backends)
        return self.loaders

    def _authenticate(self) -> UserId | None:
        token = bearer_token(_authorization_param(self.connection_params or {})) or bearer_token(
            self.request.headers.get("authorization")
        )
        if not token:
            return None
        try:
            return self.platform.accounts.authenticate(token)
        except InvalidToken as problem:
            self.token_problem = problem
            return None


Info: TypeAlias = strawberry.Info[Context, None]
