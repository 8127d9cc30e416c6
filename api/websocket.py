"""graphql-transport-ws with Murmur's rules on top of Strawberry's handler.

- Every `subscribe` counts against the rate limits, as an HTTP request does; over a limit
  that operation gets an `error` message (RATE_LIMITED, retryAfterSeconds) and never runs.
- A socket whose token was good at `connection_init` is closed with 4401 the moment the
  token expires, as soon as an operation or an event finds it revoked, and at the latest
  `ws_token_recheck_seconds` after a revocation when it is idle.
- A socket without a valid token is closed with 4401 `ws_anonymous_seconds` after its
  `connection_init`, once nothing it asked for is running: anonymous sockets are for a
  query or two, not for parking.
- At most `ws_per_user` sockets per account and `ws_per_client` per client address are open
  at once (in this process): past either, the socket is closed with 4429. An account's
  sockets hold connections and their subscriptions run on every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)

from api.context import UNAUTHORIZED, Context
from api.rate_limit import rate_limited_error

if TYPE_CHECKING:
    from api.rate_limit import RateLimits

log = logging.getLogger(__name__)

TOO_MANY = 4429  # graphql-transport-ws's "too many requests" family of close codes
ANONYMOUS_DONE = "Unauthenticated sockets close after a few seconds: log in, or use HTTP."


class MurmurTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    # set on the class the view makes (api/graphql_view.py)
    limits: ClassVar[RateLimits | None] = None
    anonymous_seconds: ClassVar[float] = 5.0
    recheck_seconds: ClassVar[float] = 30.0
    per_user: ClassVar[int] = 10
    per_client: ClassVar[int] = 100
    # open sockets by account and by client address, in this process (shared by the class)
    open_by_user: ClassVar[Counter[str]]
    open_by_client: ClassVar[Counter[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._user: str | None = None
        self._client: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        client = self.context.client_address
        if self.open_by_client[client] >= self.per_client:
            await self.close(TOO_MANY, "Too many sockets from this address.")
            return
        self.open_by_client[client] += 1
        self._client = client
        await super().handle()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if not self.connection_acknowledged:
            return
        self.context.close_socket = self.close
        user = await self.context.verify_viewer()
        if user is None:
            self._arm(self.anonymous_seconds, self._anonymous_done)
            return
        if self.open_by_user[user] >= self.per_user:
            await self.close(TOO_MANY, "Too many sockets for this account.")
            return
        self.open_by_user[user] += 1
        self._user = user
        self._arm_recheck()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and self.limits is not None:
            verdict = await self.limits.operation(user=self._user, address=self.context.client_address)
            if not verdict.allowed:
                refusal: ErrorMessage = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [rate_limited_error(verdict.retry_after_seconds)],
                }
                await self.send_message(refusal)
                return
        if self._user is not None and await self.context.verify_viewer() is None:
            await self.close(UNAUTHORIZED, _why(self.context))
            return
        await super().handle_subscribe(message)

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with this code (the operations end with it)."""
        self._disarm()
        with contextlib.suppress(Exception):  # already closed by the client
            await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        self._disarm()
        if self._user is not None:
            _release(self.open_by_user, self._user)
            self._user = None
        if self._client is not None:
            _release(self.open_by_client, self._client)
            self._client = None
        await super().shutdown()

    async def handle_task_exception(self, error: Exception) -> None:
        if isinstance(error, WebSocketDisconnected):  # an operation outlived its closed socket
            log.debug("an operation ended with its socket")
            return
        await super().handle_task_exception(error)

    # timers: one per socket, re-armed as the socket's state moves

    def _arm(self, seconds: float, then: Any) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, seconds), then)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_recheck(self) -> None:
        """Next look at the token: at its expiry, or after recheck_seconds if that is sooner."""
        claims = self.context.claims
        until_expiry = claims.expires_at - time.time() if claims is not None else 0.0
        self._arm(min(until_expiry, self.recheck_seconds), self._recheck)

    def _recheck(self) -> None:
        self._timer = None
        self._closing = asyncio.create_task(self._still_valid(), name="ws-token-recheck")

    async def _still_valid(self) -> None:
        if await self.context.verify_viewer() is None:
            await self.close(UNAUTHORIZED, _why(self.context))
        else:
            self._arm_recheck()

    def _anonymous_done(self) -> None:
        if self.operations:  # let what it asked for finish, then close
            self._arm(0.1, self._anonymous_done)
            return
        self._timer = None
        self._closing = asyncio.create_task(self.close(UNAUTHORIZED, ANONYMOUS_DONE), name="ws-close")


def _release(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def _why(context: Context) -> str:
    problem = context.token_problem
    return problem.message if problem is not None else "Log in again."
