"""graphql-transport-ws with Murmur's rules on top of Strawberry's handler.

- Every `subscribe` counts against the rate limits, as an HTTP request does; over a limit
  that operation gets an `error` message (RATE_LIMITED, retryAfterSeconds) and never runs.
- A socket whose token was good at `connection_init` is closed with 4401 the moment the
  token expires, and as soon as an operation or an event finds it revoked.
- A socket without a valid token is closed with 4401 after `ws_anonymous_idle_seconds`
  without an operation in flight: anonymous sockets are for a query or two, not for parking.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

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

ANONYMOUS_IDLE = "Unauthenticated sockets close when idle: log in, or use HTTP."


class MurmurTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    limits: RateLimits | None = None  # set on the class the view makes (api/graphql_view.py)
    anonymous_idle_seconds: float = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._authenticated = False
        self._timer: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if not self.connection_acknowledged:
            return
        self.context.close_socket = self.close
        viewer = await self.context.verify_viewer()
        self._authenticated = viewer is not None
        if self.context.claims is not None:
            self._arm(self.context.claims.expires_at - time.time(), self._expired)
        else:
            self._arm(self.anonymous_idle_seconds, self._idle)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and self.limits is not None:
            verdict = await self.limits.operation(
                user=self.context.claims.user_id if self.context.claims else None,
                address=self.context.client_address,
            )
            if not verdict.allowed:
                refusal: ErrorMessage = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [rate_limited_error(verdict.retry_after_seconds)],
                }
                await self.send_message(refusal)
                return
        if self._authenticated and await self.context.verify_viewer() is None:
            await self.close(UNAUTHORIZED, _why(self.context))
            return
        await super().handle_subscribe(message)

    def forget_id(self, id: str) -> None:
        super().forget_id(id)
        if not self._authenticated and not self.operations:
            self._arm(self.anonymous_idle_seconds, self._idle)  # idle from now

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with this code (the operations end with it)."""
        self._disarm()
        with contextlib.suppress(Exception):  # already closed by the client
            await self.websocket.close(code=code, reason=reason)

    async def shutdown(self) -> None:
        self._disarm()
        await super().shutdown()

    def _arm(self, seconds: float, then: Any) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, seconds), then)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._close_soon("Your token has expired: log in again.")

    def _idle(self) -> None:
        if self.operations:  # something is running: not idle, look again later
            self._arm(self.anonymous_idle_seconds, self._idle)
            return
        self._close_soon(ANONYMOUS_IDLE)

    def _close_soon(self, reason: str) -> None:
        self._timer = None
        self._closing = asyncio.create_task(self.close(UNAUTHORIZED, reason), name="ws-close")


def _why(context: Context) -> str:
    problem = context.token_problem
    return problem.message if problem is not None else "Log in again."
