"""DynamoTimelineStore beyond the contract: retries of unprocessed items and throttling, error
mapping, the table it creates. A real client against the session's moto server, with faults
injected through the client's event hooks (moto itself never throttles nor leaves items
unprocessed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from murmur.domain import IdGenerator, PermanentStoreError, PostId, RetryableStoreError, TimelineEntry, UserId
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff
from murmur.storage.dynamodb import DynamoTimelineStore
from tests.contract.backends.aws import Injected, aws_settings, inject_error
from tests.servers import MotoServer

FAST = Backoff(attempts=4, base_seconds=0.001, max_seconds=0.01)
_ids = IdGenerator(node=5)


def new_ids(n: int) -> list[str]:
    return [_ids.next_id() for _ in range(n)]


@pytest.fixture
def settings(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsSettings:
    return aws_settings(moto_server, monkeypatch)


@pytest.fixture
async def store(settings: AwsSettings) -> AsyncIterator[DynamoTimelineStore]:
    store = await DynamoTimelineStore.open(settings, cap=10, create_missing=True, backoff=FAST)
    try:
        yield store
    finally:
        await store.client.delete_table(TableName=settings.timelines_table)
        await store.close()


def withhold_half_of_batch_writes(store: DynamoTimelineStore, *, times: int) -> Injected:
    """For the first `times` BatchWriteItem calls, send only half of each batch to the server
    and hand the other half back as UnprocessedItems, as DynamoDB does when throttled."""
    injected = Injected()

    def withhold(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if injected.calls >= times:
            return
        injected.calls += 1
        kept: dict[str, list[Any]] = {}
        withheld: dict[str, list[Any]] = {}
        for table, requests in params["RequestItems"].items():
            half = len(requests) // 2 or 1
            kept[table], withheld[table] = requests[:half], requests[half:]
        params["RequestItems"] = {table: requests for table, requests in kept.items() if requests}
        context["withheld"] = {table: requests for table, requests in withheld.items() if requests}

    def report(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "withheld" in context:
            parsed["UnprocessedItems"] = context.pop("withheld")

    store.client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", withhold)
    store.client.meta.events.register("after-call.dynamodb.BatchWriteItem", report)
    return injected


async def test_unprocessed_items_are_written_on_retry(store: DynamoTimelineStore) -> None:
    owners = [UserId(i) for i in new_ids(120)]  # 5 batches of 25
    entry = TimelineEntry(post_id=PostId(new_ids(1)[0]), author_id=UserId(new_ids(1)[0]))
    injected = withhold_half_of_batch_writes(store, times=3)

    await store.add_to_timelines(owners=owners, entry=entry)

    assert injected.calls == 3
    assert await store.timeline_sizes(owners=owners) == dict.fromkeys(owners, 1)
    for owner in (owners[0], owners[60], owners[-1]):
        assert await store.timeline(owner=owner, before=None, limit=5) == [entry]


async def test_items_left_unprocessed_too_long_fail_retryably(store: DynamoTimelineStore) -> None:
    withhold_half_of_batch_writes(store, times=100)
    entry = TimelineEntry(post_id=PostId(new_ids(1)[0]), author_id=UserId(new_ids(1)[0]))
    with pytest.raises(RetryableStoreError, match="unprocessed"):
        await store.add_to_timelines(owners=[UserId(i) for i in new_ids(30)], entry=entry)


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
async def test_throttling_is_retried_then_given_up(store: DynamoTimelineStore, code: str) -> None:
    owner = UserId(new_ids(1)[0])
    throttled = inject_error(store.client, "Query", code)

    with pytest.raises(RetryableStoreError, match=code):
        await store.timeline(owner=owner, before=None, limit=5)
    assert throttled.calls == FAST.attempts


async def test_a_throttled_call_succeeds_once_throttling_stops(store: DynamoTimelineStore) -> None:
    owner, post, author = new_ids(3)
    throttled = inject_error(store.client, "UpdateItem", "ThrottlingException", times=2)
    entry = TimelineEntry(post_id=PostId(post), author_id=UserId(author))

    await store.add_to_timelines(owners=[UserId(owner)], entry=entry)
    assert throttled.calls == 2
    assert await store.timeline_sizes(owners=[UserId(owner)]) == {owner: 1}


async def test_server_errors_are_retryable_and_validation_errors_permanent(
    store: DynamoTimelineStore,
) -> None:
    owner = UserId(new_ids(1)[0])
    failing = inject_error(store.client, "BatchGetItem", "InternalServerError")
    with pytest.raises(RetryableStoreError):
        await store.timeline_sizes(owners=[owner])
    assert failing.calls == FAST.attempts

    invalid = inject_error(store.client, "Query", "ValidationException")
    with pytest.raises(PermanentStoreError):
        await store.timeline(owner=owner, before=None, limit=5)
    assert invalid.calls == 1  # not retried


async def test_an_unreachable_endpoint_is_retryable(
    monkeypatch: pytest.MonkeyPatch, settings: AwsSettings
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(RetryableStoreError):
        await DynamoTimelineStore.open(
            settings.model_copy(update={"endpoint_url": closed}), cap=5, create_missing=True, backoff=FAST
        )


async def test_the_table_is_created_once_and_found_after(settings: AwsSettings) -> None:
    with pytest.raises(PermanentStoreError, match="murmur init"):
        await DynamoTimelineStore.open(settings, cap=5, create_missing=False, backoff=FAST)

    first = await DynamoTimelineStore.open(settings, cap=5, create_missing=True, backoff=FAST)
    again = await DynamoTimelineStore.open(settings, cap=5, create_missing=True, backoff=FAST)
    existing = await DynamoTimelineStore.open(settings, cap=5, create_missing=False, backoff=FAST)
    try:
        table = (await first.client.describe_table(TableName=settings.timelines_table))["Table"]
        assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
            ("owner", "HASH"),
            ("post", "RANGE"),
        }
        assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
            ("owner", "S"),
            ("post", "N"),
        }
        assert table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
        await existing.ping()
    finally:
        await first.client.delete_table(TableName=settings.timelines_table)
        for store in (first, again, existing):
            await store.close()


async def test_malformed_ids_are_refused_on_write_and_unknown_on_read(store: DynamoTimelineStore) -> None:
    entry = TimelineEntry(post_id=PostId(new_ids(1)[0]), author_id=UserId(new_ids(1)[0]))
    with pytest.raises(PermanentStoreError):
        await store.add_to_timelines(owners=[UserId("not-an-id")], entry=entry)
    with pytest.raises(PermanentStoreError):
        await store.add_to_timelines(
            owners=[UserId(new_ids(1)[0])], entry=TimelineEntry(PostId("0"), entry.author_id)
        )
    assert await store.timeline_sizes(owners=[UserId("x")]) == {"x": 0}
    assert await store.remove_post(owners=[UserId("x")], post_id=entry.post_id) == []
