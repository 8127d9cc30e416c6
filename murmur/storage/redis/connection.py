"""One Redis (ElastiCache) for the cache, the hot timelines and the event bus, and what they
share about its health.

Redis only ever holds copies, so its failures never fail a request: a store that cannot
reach it answers from the durable stores (or as a miss), logs, counts the error, and
stays away from Redis for `pause_seconds` so a dead node costs one timeout rather than
one per request. A write or delete that did not reach Redis leaves a copy there that may
now be wrong: its key is *owed* a delete, done before Redis answers anything again — a
lost write becomes a miss, never a stale answer.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from itertools import islice
from typing import Any, Final, Literal, TypeVar

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, RedisError, ResponseError

from murmur.metrics import STORE_ERRORS
from murmur.settings import RedisSettings

T = TypeVar("T")
log = logging.getLogger(__name__)

# Redis failures as redis-py raises them (socket errors arrive wrapped as ConnectionError).
REDIS_ERRORS: Final = (RedisError, OSError)

# A cache must answer fast or not at all: a stuck node should cost a request one second,
# and a dropped connection (failover, idle timeout) one quick reconnect.
SOCKET_TIMEOUT_SECONDS = 1.0
RETRY = Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1)
COMMAND_CONNECTIONS = 64  # requests beyond this wait for a free connection (up to the socket timeout)
# Each live subscription holds a connection for its lifetime: their own pool, so thousands
# of open websockets cannot starve the commands of connections.
SUBSCRIBER_CONNECTIONS = 10_000
OWED_KEYS_LIMIT = 100_000  # past this, forget the keys and delete everything under the prefix instead
DELETE_BATCH = 1000


class NoAnswer(enum.Enum):
    """What RedisConnection.call returns when Redis could not be used."""

    NO_ANSWER = "no answer"


NO_ANSWER: Final = NoAnswer.NO_ANSWER


def client_options(settings: RedisSettings) -> dict[str, Any]:
    """Connection-pool keyword arguments: the URL's, then the TLS and AUTH settings over them."""
    options: dict[str, Any] = dict(parse_url(settings.url))
    if settings.tls and "connection_class" not in options:  # redis:// (rediss:// already sets it)
        options["connection_class"] = SSLConnection
    if settings.auth_token is not None:
        options["password"] = settings.auth_token.get_secret_value()
    options.update(
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        retry=RETRY,
        client_name="murmur",
    )
    return options


class RedisConnection:
    def __init__(
        self,
        *,
        client: Redis,
        subscriber: Redis,
        prefix: str = "murmur:",
        pause_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client  # commands
        self._subscriber = subscriber  # a separate pool for pub/sub connections
        self.prefix = prefix
        self._pause_seconds = pause_seconds
        self._clock = clock
        self._paused_until = 0.0
        self._owed: set[str] = set()
        self._purge_owed = False
        self._settling = asyncio.Lock()

    @classmethod
    async def open(
        cls, settings: RedisSettings, *, prefix: str = "murmur:", pause_seconds: float = 1.0
    ) -> RedisConnection:
        """Connect; an unreachable Redis is an outage the stores ride out, a refused
        password or command is a deployment error and raises."""
        options = client_options(settings)
        client = Redis.from_pool(
            BlockingConnectionPool(
                max_connections=COMMAND_CONNECTIONS, timeout=SOCKET_TIMEOUT_SECONDS, **options
            )
        )
        subscriber = Redis.from_pool(ConnectionPool(max_connections=SUBSCRIBER_CONNECTIONS, **options))
        conn = cls(client=client, subscriber=subscriber, prefix=prefix, pause_seconds=pause_seconds)
        try:
            await conn.ping()
        except (AuthenticationError, ResponseError):
            await conn.close()
            raise
        except REDIS_ERRORS as exc:
            log.warning("Redis at %s does not answer (%r): starting without it", settings.url, exc)
        return conn

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self._subscriber.aclose()
        await self.client.aclose()

    def key(self, name: str) -> str:
        return self.prefix + name

    def pubsub(self) -> PubSub:
        """A PubSub on a connection of its own (taken when it first subscribes)."""
        return self._subscriber.pubsub()

    # --- health, shared by every store on this connection --------------------------------

    async def call(
        self, command: Callable[[], Awaitable[T]], *, store: str, operation: str
    ) -> T | Literal[NoAnswer.NO_ANSWER]:
        """Run command if Redis is usable; NO_ANSWER (logged and counted) if it is not or fails."""
        if not await self.usable():
            STORE_ERRORS.labels(store, operation).inc()
            return NO_ANSWER
        try:
            return await command()
        except REDIS_ERRORS as exc:
            self.failed(exc, store=store, operation=operation)
            return NO_ANSWER

    async def usable(self) -> bool:
        """Not paused after a failure, and every owed delete done."""
        if self._clock() < self._paused_until:
            return False
        if not (self._owed or self._purge_owed or self._settling.locked()):
            return True
        async with self._settling:  # others wait here: nothing is read before the deletes are done
            try:
                await self._settle()
            except REDIS_ERRORS as exc:
                self.failed(exc, store="redis", operation="owed_deletes")
                return False
        return True

    def failed(self, error: BaseException, *, store: str, operation: str) -> None:
        STORE_ERRORS.labels(store, operation).inc()
        if self._clock() >= self._paused_until:  # once per pause: an outage is one line, not thousands
            log.warning(
                "Redis failed in %s.%s (%r): answering without it for %.1f s",
                store,
                operation,
                error,
                self._pause_seconds,
            )
        self._paused_until = self._clock() + self._pause_seconds

    async def forget(self, keys: Sequence[str], *, store: str, operation: str) -> None:
        """Delete keys now, or owe the delete if Redis cannot take it."""
        if (
            keys
            and await self.call(lambda: self._unlink(keys), store=store, operation=operation) is NO_ANSWER
        ):
            self.owe_deletes(keys)

    def owe_deletes(self, keys: Iterable[str]) -> None:
        self._owed.update(keys)
        if len(self._owed) > OWED_KEYS_LIMIT:
            log.error(
                "over %d Redis keys owed a delete: deleting all under %r instead",
                OWED_KEYS_LIMIT,
                self.prefix,
            )
            self._owed.clear()
            self._purge_owed = True

    async def _settle(self) -> None:
        if self._purge_owed:
            self._purge_owed = False
            try:
                await self._purge()
            except BaseException:
                self._purge_owed = True
                raise
        while self._owed:  # keys owed meanwhile are taken too
            batch = list(islice(self._owed, DELETE_BATCH))
            await self._unlink(batch)
            self._owed.difference_update(batch)

    async def _purge(self) -> None:
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=self.prefix + "*", count=DELETE_BATCH):
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                await self.client.unlink(*batch)
                batch.clear()
        if batch:
            await self.client.unlink(*batch)

    async def _unlink(self, keys: Sequence[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(keys), DELETE_BATCH):
            pipe.unlink(*keys[start : start + DELETE_BATCH])
        await pipe.execute()
