"""What the AWS backends (DynamoDB timelines, the SQS queue) share: one aiobotocore client per
store, the mapping of botocore errors onto the store error tree, and one backoff policy.

botocore's own retries are switched off (total_max_attempts=1) so that every retry happens
here, under one policy the tests can see: throttling, 5xx answers and lost connections are
retried with exponential backoff and full jitter, then raised as RetryableStoreError; any
other error is the request's fault and raised at once as PermanentStoreError.

Every request a client sends is counted in murmur_aws_requests_total{service, operation}: one
per attempt, retries included, since AWS bills (and throttles) each one. The count is taken in
botocore's `before-send` event, so it is exact for every call made through the client (a fault
that tests inject before sending is not counted: nothing was sent).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError,
    HTTPClientError,
)

from murmur.domain import PermanentStoreError, RetryableStoreError, StoreError
from murmur.metrics import AWS_REQUESTS
from murmur.settings import AwsSettings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

T = TypeVar("T")
Item = TypeVar("Item")

# error codes that mean "not now" rather than "never" (DynamoDB's and SQS's spellings)
_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    attempts: int = 8
    base_seconds: float = 0.05
    max_seconds: float = 5.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0.0, min(self.max_seconds, self.base_seconds * 2**attempt))


def error_code(exc: BaseException | None) -> str:
    """The AWS error code of a ClientError, or of the ClientError a StoreError was raised from."""
    if isinstance(exc, StoreError):
        exc = exc.__cause__
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


def store_error(exc: BotoCoreError | ClientError, what: str) -> StoreError:
    """The store error a botocore failure stands for."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if error_code(exc) in _RETRYABLE_CODES or status >= 500:
            return RetryableStoreError(f"{what}: {exc}")
        return PermanentStoreError(f"{what}: {exc}")
    if isinstance(exc, ConnectionError | ConnectionClosedError | HTTPClientError):
        return RetryableStoreError(f"{what}: {exc}")
    return PermanentStoreError(f"{what}: {exc}")


async def call(operation: Callable[[], Awaitable[T]], *, backoff: Backoff, what: str) -> T:
    """Run one AWS call, retrying what is retryable; raise a StoreError when it fails for good."""
    for attempt in range(backoff.attempts):
        try:
            return await operation()
        except (BotoCoreError, ClientError) as exc:
            error = store_error(exc, what)
            if isinstance(error, PermanentStoreError) or attempt == backoff.attempts - 1:
                raise error from exc
        await asyncio.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable: attempts >= 1")


async def drain(
    send: Callable[[list[Item]], Awaitable[list[Item]]],
    items: list[Item],
    *,
    backoff: Backoff,
    what: str,
) -> None:
    """Send a batch, then resend whatever the service left undone (BatchWriteItem's
    UnprocessedItems, an SQS batch's Failed entries), backing off between rounds."""
    for attempt in range(backoff.attempts):
        items = await send(items)
        if not items:
            return
        if attempt < backoff.attempts - 1:
            await asyncio.sleep(backoff.delay(attempt))
    raise RetryableStoreError(f"{what}: {len(items)} left unprocessed after {backoff.attempts} attempts")


async def gather_bounded(calls: Iterable[Awaitable[T]], *, limit: int) -> list[T]:
    """Await every call, at most `limit` at a time, in order; the first failure cancels the rest."""
    semaphore = asyncio.Semaphore(limit)

    async def bounded(awaitable: Awaitable[T]) -> T:
        async with semaphore:
            return await awaitable

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(bounded(c)) for c in calls]
    except ExceptionGroup as failures:
        first = failures.exceptions[0]  # callers expect the store error itself, not a group
        raise first from first.__cause__
    return [task.result() for task in tasks]


def chunks(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


@overload
async def open_client(
    service: Literal["dynamodb"], settings: AwsSettings, stack: AsyncExitStack, *, pool: int
) -> DynamoDBClient: ...


@overload
async def open_client(
    service: Literal["sqs"], settings: AwsSettings, stack: AsyncExitStack, *, pool: int
) -> SQSClient: ...


async def open_client(
    service: Literal["dynamodb", "sqs"], settings: AwsSettings, stack: AsyncExitStack, *, pool: int
) -> Any:
    """A client of its own for one store, closed with the stack. Credentials come from the
    usual chain (environment, profile, instance role)."""
    config = AioConfig(
        retries={"total_max_attempts": 1},  # retried in call()/drain(), not inside botocore
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=30,  # above SQS's longest long poll (20 s)
    )
    creator = get_session().create_client(
        service, region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
    )
    client = await stack.enter_async_context(creator)
    client.meta.events.register("before-send", _count_request)
    return client


def _count_request(event_name: str, **_: Any) -> None:
    """Count one request on its way out ("before-send.<service>.<Operation>"). Returns None: a
    value returned here would be taken as the response."""
    _event, service, operation = event_name.split(".", 2)
    AWS_REQUESTS.labels(service, operation).inc()
