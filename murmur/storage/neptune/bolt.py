"""A Bolt connection to Neptune (or any openCypher server): auto-commit queries, batched list
parameters, driver errors mapped onto the store error tree, and a few quick retries.

Every query runs in its own auto-commit transaction and every write is a single query
that is safe to repeat, because FalkorDB, the local stand-in, does not undo a
rolled-back transaction: a multi-query transaction could leave half its work behind.
Auto-commit is also one round trip, where a managed transaction takes two.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from typing import Any, Self
from urllib.parse import urlsplit

from neo4j import AsyncDriver, AsyncGraphDatabase, Record
from neo4j.auth_management import AsyncAuthManager
from neo4j.exceptions import (
    ConnectionAcquisitionTimeoutError,
    DriverError,
    IncompleteCommit,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from murmur.domain import PermanentStoreError, RetryableStoreError, StoreError
from murmur.settings import NeptuneSettings
from murmur.storage.neptune.auth import iam_auth_manager
from murmur.storage.neptune.messages import batches

NEPTUNE_PORT = 8182
_RETRYABLE = (
    ServiceUnavailable,
    SessionExpired,
    TransientError,
    IncompleteCommit,  # our writes are safe to repeat, so an unknown outcome is worth a retry
    ConnectionAcquisitionTimeoutError,
    OSError,
    TimeoutError,
)


def store_error(exc: Exception) -> StoreError | None:
    """The store error a driver failure stands for; None for anything else (a bug: let it show)."""
    if isinstance(exc, _RETRYABLE):
        return RetryableStoreError(f"Bolt: {exc}")
    if isinstance(exc, Neo4jError) and "ConcurrentModification" in str(exc):
        # Neptune's optimistic-locking conflict: documented as retriable, whatever code it carries
        return RetryableStoreError(f"Bolt: {exc}")
    if isinstance(exc, Neo4jError | DriverError):
        return PermanentStoreError(f"Bolt: {exc}")
    return None


def _auth(settings: NeptuneSettings) -> AsyncAuthManager | None:
    if not settings.iam_auth:
        return None
    address = urlsplit(settings.uri)
    if address.hostname is None:
        raise PermanentStoreError(f"no host in the Neptune URI {settings.uri!r}")
    return iam_auth_manager(region=settings.region, host=address.hostname, port=address.port or NEPTUNE_PORT)


class BoltClient:
    """Owns the driver. Subclasses add their queries and may prepare the server in _prepare()."""

    def __init__(self, *, driver: AsyncDriver, max_message_bytes: int, attempts: int) -> None:
        self._driver = driver
        self._max_message_bytes = max_message_bytes
        self._attempts = attempts

    @classmethod
    async def open(
        cls, settings: NeptuneSettings, *, attempts: int = 3, connection_timeout: float = 10.0
    ) -> Self:
        """Connect (lazily: the first query opens a connection) and prepare the server.

        attempts: how often a query that failed retryably is sent in all.
        """
        driver = AsyncGraphDatabase.driver(
            settings.uri, auth=_auth(settings), connection_timeout=connection_timeout
        )
        client = cls(driver=driver, max_message_bytes=settings.max_message_bytes, attempts=attempts)
        try:
            await client._prepare()
        except BaseException:
            await driver.close()
            raise
        return client

    async def _prepare(self) -> None:
        """Run once by open(): create what the queries rely on."""

    async def close(self) -> None:
        await self._driver.close()

    async def ping(self) -> None:
        await self._run("RETURN 1 AS one", {}, attempts=1)  # readiness wants the answer now

    async def _run(
        self, query: str, parameters: Mapping[str, Any], *, attempts: int | None = None
    ) -> list[Record]:
        """All records of one auto-commit query, sent again (after a jittered backoff) while
        it fails retryably, up to attempts times in all."""
        attempts = attempts or self._attempts
        attempt = 1
        while True:
            try:
                # Default (write) access mode even for reads: FalkorDB answers a read-mode
                # session from an empty graph, and over bolt:// the mode routes nothing
                # (Neptune's readers are separate endpoints, each its own driver).
                async with self._driver.session() as session:
                    result = await session.run(query, dict(parameters))
                    return [record async for record in result]
            except Exception as exc:
                error = store_error(exc)
                if error is None:
                    raise
                if isinstance(error, PermanentStoreError) or attempt >= attempts:
                    raise error from exc
            await asyncio.sleep(random.uniform(0.5, 1.0) * 0.05 * 2**attempt)
            attempt += 1

    async def _run_batched(
        self,
        query: str,
        *,
        name: str,
        rows: Sequence[object],
        fixed: Mapping[str, Any] | None = None,
    ) -> list[Record]:
        """Run query once per batch of rows (parameter `name`) that fits one Bolt message."""
        fixed = fixed or {}
        records: list[Record] = []
        for batch in batches(rows, query=query, name=name, fixed=fixed, max_bytes=self._max_message_bytes):
            records += await self._run(query, {**fixed, name: batch})
        return records
