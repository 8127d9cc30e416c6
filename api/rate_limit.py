"""Rate limits on /graphql, per logged-in user and per client address, checked before the
request body is even read, so a flood costs a counter increment and nothing more.

The counters are limits' sliding windows: in process on the embedded profile, in Redis
when Redis is the cache, so every API pod counts against the same budget. An answer over
the limit is HTTP 429 with Retry-After and a GraphQL error (code RATE_LIMITED, with
retryAfterSeconds). If Redis cannot be reached the check lets the request through: the
limits protect the stores, they must not become one more thing that can take the API down.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import orjson
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.types import ASGIApp, Receive, Scope, Send

from api.context import bearer_token
from murmur.accounts import Accounts
from murmur.domain import InvalidToken
from murmur.settings import Settings

log = logging.getLogger(__name__)

PATH = "/graphql"


@dataclass(frozen=True, slots=True)
class Verdict:
    retry_after_seconds: int  # 0: allowed


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self._per_user: RateLimitItem = parse(settings.rate_limit.per_user)
        self._per_ip: RateLimitItem = parse(settings.rate_limit.per_ip)
        self._limiter = SlidingWindowCounterRateLimiter(_storage(settings))

    async def check(self, *, user: str | None, address: str) -> Verdict:
        """Count one request; how long to wait if it is over a limit."""
        budgets = [(self._per_ip, "ip", address), *([(self._per_user, "user", user)] if user else [])]
        try:
            for item, kind, who in budgets:
                if not await self._limiter.hit(item, kind, who):
                    stats = await self._limiter.get_window_stats(item, kind, who)
                    return Verdict(max(1, math.ceil(stats.reset_time - time.time())))
        except StorageError as exc:
            log.warning("rate limits unavailable, letting requests through: %s", exc)
        return Verdict(0)


def _storage(settings: Settings) -> Storage:
    if settings.resolved_stores.cache != "redis":
        return MemoryStorage()
    redis = settings.redis
    url = redis.url.replace("redis://", "rediss://", 1) if redis.tls else redis.url
    options: dict[str, float | str | bool] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
    if redis.auth_token is not None:
        options["password"] = redis.auth_token.get_secret_value()
    return RedisStorage(
        f"async+{url}", implementation="redispy", wrap_exceptions=True, key_prefix="murmur-rate", **options
    )


class RateLimitMiddleware:
    """ASGI middleware in front of /graphql (HTTP requests and websocket connections)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.limits = RateLimits(settings)
        self.trust_forwarded_for = settings.rate_limit.trust_forwarded_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] != PATH or _is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        runtime = getattr(scope["app"].state, "runtime", None)  # set once the platform is open
        user = self._user(runtime.platform.accounts, headers) if runtime is not None else None
        verdict = await self.limits.check(user=user, address=self._address(scope, headers))
        if verdict.retry_after_seconds == 0:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _too_many(send, verdict.retry_after_seconds)
        else:  # a websocket handshake refused: HTTP 403 from the server, as ASGI allows
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})

    def _user(self, accounts: Accounts, headers: dict[str, str]) -> str | None:
        token = bearer_token(headers.get("authorization"))
        if token is None:
            return None
        try:
            return accounts.authenticate(token)
        except InvalidToken:
            return None  # the request will be told why; it still counts against its address

    def _address(self, scope: Scope, headers: dict[str, str]) -> str:
        forwarded = headers.get("x-forwarded-for", "")
        if self.trust_forwarded_for and forwarded:
            return forwarded.split(",")[0].strip()
        client = scope.get("client")
        return str(client[0]) if client else "unknown"


def _is_ide_page(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "GET" and b"query=" not in scope["query_string"]


async def _too_many(send: Send, seconds: int) -> None:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": f"Too many requests: try again in {seconds} s.",
                    "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": seconds},
                }
            ]
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", str(seconds).encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
