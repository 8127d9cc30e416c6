"""Rate limits: every operation per logged-in user and per client address, whatever the
transport, and budgets of their own for login and register.

- HTTP: every request to /graphql counts (GET included, the GraphiQL page too), checked
  before the body is read, so a flood costs a counter increment and nothing more.
- Websockets: the handshake counts, then every `subscribe` message (api/websocket.py).
- login: per client address (`login_per_ip`), and per account a backoff: after
  `login_failures_before_backoff` failed attempts, each further attempt waits for a slot
  of 1 s, 2 s, 4 s ... up to `login_backoff_max_seconds`; a success starts over. Whoever
  guesses from many addresses still gets one guess per slot, and so may keep an account's
  owner waiting up to that maximum: the price of throttling per account. register:
  per client address (`register_per_ip`). Refused attempts answer TooManyAttempts with
  retryAfterSeconds (and Retry-After over HTTP), checked before the password is hashed.

The client address is scope["client"], which api/client_address.py sets from the trusted
proxies' X-Forwarded-For. The counters are limits' sliding windows (and plain counters for
the backoff): in process on the embedded profile, in Redis when Redis is the cache, so every
API pod counts against the same budget. Over a limit, HTTP answers 429 with Retry-After and
a GraphQL error (code RATE_LIMITED, with retryAfterSeconds). If Redis cannot be reached the
check lets the request through: the limits protect the stores, they must not become one
more thing that can take the API down.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import orjson
from graphql import GraphQLFormattedError
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import MemoryStorage as SyncMemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter as SyncSlidingWindow
from starlette.types import ASGIApp, Receive, Scope, Send

from api.client_address import budget_key
from api.context import bearer_token
from murmur.accounts import Accounts
from murmur.domain import InvalidToken
from murmur.settings import Settings

log = logging.getLogger(__name__)

PATH = "/graphql"
# attempts at one account are remembered this long after the first of them
FAILURE_MEMORY_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Verdict:
    retry_after_seconds: int  # 0: allowed

    @property
    def allowed(self) -> bool:
        return self.retry_after_seconds == 0


ALLOWED = Verdict(0)


class RateLimits:
    """The budgets, shared by the HTTP middleware, the websocket handler and the login and
    register mutations."""

    def __init__(self, settings: Settings) -> None:
        rates = settings.rate_limit
        self._per_user: RateLimitItem = parse(rates.per_user)
        self._per_ip: RateLimitItem = parse(rates.per_ip)
        self._login_per_ip: RateLimitItem = parse(rates.login_per_ip)
        self._register_per_ip: RateLimitItem = parse(rates.register_per_ip)
        self._new_query_bytes: RateLimitItem = parse(rates.new_query_bytes_per_ip)
        self._new_queries = SyncSlidingWindow(SyncMemoryStorage())
        self._free_failures = rates.login_failures_before_backoff
        self._max_backoff = rates.login_backoff_max_seconds
        self._storage = _storage(settings)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    async def operation(self, *, user: str | None, address: str) -> Verdict:
        """Count one operation (an HTTP request or a websocket subscribe)."""
        budgets = [(self._per_ip, "ip", address), *([(self._per_user, "user", user)] if user else [])]
        return await self._hit(budgets)

    async def login_attempt(self, *, account: str, address: str) -> Verdict:
        """Count a login attempt before its password is checked; refused while the address is
        over its budget or the account backs off.

        Every attempt counts as a failure until it succeeds (login_succeeded clears the
        count), so attempts sent at once cannot all slip through before one is recorded.
        Past the free ones, the first attempt takes the account's backoff slot (an atomic
        increment that answers 1 to one caller only) and the rest wait for the slot to end;
        the slot lasts 2^k s for the k-th attempt past the free ones, up to the maximum.
        """
        over = await self._hit([(self._login_per_ip, "login-ip", address)])
        if not over.allowed:
            return over
        try:
            attempts = await self._storage.incr(_attempts_key(account), FAILURE_MEMORY_SECONDS)
            if attempts <= self._free_failures:
                return ALLOWED
            wait = min(self._max_backoff, 2 ** min(attempts - self._free_failures - 1, 30))
            if await self._storage.incr(_slot_key(account), wait) == 1:
                return ALLOWED
            return Verdict(_seconds_until(await self._storage.get_expiry(_slot_key(account))))
        except StorageError as exc:
            log.warning("login backoff unavailable, letting the attempt through: %s", exc)
            return ALLOWED

    async def login_succeeded(self, *, account: str) -> None:
        try:
            await self._storage.clear(_attempts_key(account))
            await self._storage.clear(_slot_key(account))
        except StorageError as exc:
            log.warning("login backoff unavailable: %s", exc)

    def new_query(self, *, address: str, size: int) -> Verdict:
        """Spend `size` bytes of the address's budget for documents not validated before. In
        this process, synchronously: it guards this process's CPU, and it is asked inside
        validation, where nothing may wait."""
        item = self._new_query_bytes
        if not self._new_queries.hit(item, "new-query", address, cost=max(1, size)):
            stats = self._new_queries.get_window_stats(item, "new-query", address)
            return Verdict(_seconds_until(stats.reset_time))
        return ALLOWED

    async def register_attempt(self, *, address: str) -> Verdict:
        return await self._hit([(self._register_per_ip, "register-ip", address)])

    async def _hit(self, budgets: list[tuple[RateLimitItem, str, str]]) -> Verdict:
        try:
            for item, kind, who in budgets:
                if not await self._limiter.hit(item, kind, who):
                    stats = await self._limiter.get_window_stats(item, kind, who)
                    return Verdict(_seconds_until(stats.reset_time))
        except StorageError as exc:
            log.warning("rate limits unavailable, letting requests through: %s", exc)
        return ALLOWED


def _attempts_key(account: str) -> str:
    return f"login-attempts/{account.lower()}"


def _slot_key(account: str) -> str:
    return f"login-slot/{account.lower()}"


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))


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
    """ASGI middleware in front of /graphql: every HTTP request and websocket handshake."""

    def __init__(self, app: ASGIApp, *, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        runtime = getattr(scope["app"].state, "runtime", None)  # set once the platform is open
        user = _user(runtime.platform.accounts, scope) if runtime is not None else None
        verdict = await self.limits.operation(user=user, address=budget_key(scope))
        if verdict.allowed:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await _too_many(send, verdict.retry_after_seconds)
        else:  # a websocket handshake refused: HTTP 403 from the server, as ASGI allows
            await send({"type": "websocket.close", "code": 1013, "reason": "rate limited"})


def _user(accounts: Accounts, scope: Scope) -> str | None:
    """Whose budget a request spends: the user its token names (signature and expiry only;
    revocation is the operation's business), else nobody but its address."""
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
    token = bearer_token(authorization.decode("latin-1")) if authorization is not None else None
    if token is None:
        return None
    try:
        return accounts.authenticate(token).user_id
    except InvalidToken:
        return None  # the request will be told why; it still counts against its address


def rate_limited_error(seconds: int) -> GraphQLFormattedError:
    return {
        "message": f"Too many requests: try again in {seconds} s.",
        "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": seconds},
    }


async def _too_many(send: Send, seconds: int) -> None:
    body = orjson.dumps({"errors": [rate_limited_error(seconds)]})
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
