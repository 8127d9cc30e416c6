"""DynamoTimelineStore beyond the contract: what a push costs in requests, the trim's guard
against removals racing it, retries of unprocessed items and throttling, error mapping, the
table it creates. A real client against the session's moto server, with faults (and racing
removals) injected through the client's event hooks (moto itself never throttles nor leaves
items unprocessed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY

from murmur.domain import IdGenerator, PermanentStoreError, PostId, RetryableStoreError, TimelineEntry, UserId
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff
from murmur.storage.base import Shortfall
from murmur.storage.dynamodb import DynamoTimelineStore
from murmur.storage.trims import chosen_for_trim
from tests.contract.backends.aws import Injected, aws_settings, inject_error
from tests.servers import MotoServer

FAST = Backoff(attempts=4, base_seconds=0.001, max_seconds=0.01)
_ids = IdGenerator(node=5)


def new_ids(n: int) -> list[str]:
    return [_ids.next_id() for _ in range(n)]


def new_entries(n: int) -> list[TimelineEntry]:
    """n entries, oldest first."""
    return [TimelineEntry(post_id=PostId(post), author_id=UserId(new_ids(1)[0])) for post in new_ids(n)]


def requests_sent() -> dict[str, float]:
    """murmur_aws_requests_total for DynamoDB, per operation (totals for this process)."""
    counts: dict[str, float] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "murmur_aws_requests_total" and sample.labels["service"] == "dynamodb":
                counts[sample.labels["operation"]] = sample.value
    return counts


def sent_since(before: dict[str, float]) -> dict[str, float]:
    return {op: n - before.get(op, 0) for op, n in requests_sent().items() if n != before.get(op, 0)}


def capacity_units(kind: str) -> float:
    return REGISTRY.get_sample_value("murmur_dynamodb_capacity_units_total", {"kind": kind}) or 0.0


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


@pytest.fixture
async def tiny(settings: AwsSettings) -> AsyncIterator[DynamoTimelineStore]:
    """Cap 3, and no push trims: only backfill and rebuild do, when a test says so."""
    store = await DynamoTimelineStore.open(
        settings, cap=3, create_missing=True, backoff=FAST, trim_every=1 << 40
    )
    try:
        yield store
    finally:
        await store.client.delete_table(TableName=settings.timelines_table)
        await store.close()


def before_each(store: DynamoTimelineStore, operation: str, act: Callable[[], Awaitable[None]]) -> Injected:
    """Run `act` (e.g. a racing removal) just before each call of `operation` is sent."""
    injected = Injected()

    async def hook(**_: Any) -> None:
        injected.calls += 1
        await act()

    # aiobotocore awaits a handler's coroutine; botocore's stubs only know plain functions
    store.client.meta.events.register(f"before-call.dynamodb.{operation}", cast(Callable[..., None], hook))
    return injected


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


# --- what a push costs ----------------------------------------------------------------------


async def test_a_push_is_batched_puts_and_a_trim_for_one_owner_in_trim_every(
    store: DynamoTimelineStore,
) -> None:
    owners = [UserId(i) for i in new_ids(1000)]
    entry = new_entries(1)[0]
    trimmed = chosen_for_trim([int(o) for o in owners], int(entry.post_id), store.trim_every)
    before, written = requests_sent(), capacity_units("write")

    await store.add_to_timelines(owners=owners, entry=entry)

    # no reads but the trims': one GetItem and one Query each (these timelines hold one entry)
    expected = {"BatchWriteItem": 40, "GetItem": len(trimmed), "Query": len(trimmed)}
    assert sent_since(before) == {op: n for op, n in expected.items() if n}
    assert store.trim_every == 100 and sum(expected.values()) / len(owners) <= 0.1
    assert capacity_units("write") > written  # moto reports (nominal) units for batch writes


async def test_requests_are_counted_per_attempt(store: DynamoTimelineStore) -> None:
    owners = [UserId(i) for i in new_ids(120)]  # 5 batches of 25
    entry = new_entries(1)[0]
    withhold_half_of_batch_writes(store, times=3)
    throttled = inject_error(store.client, "Query", "ThrottlingException", times=2)
    before = requests_sent()

    await store.add_to_timelines(owners=owners, entry=entry)
    await store.timeline(owner=owners[0], before=None, limit=5)

    sent = sent_since(before)
    assert sent["BatchWriteItem"] == 5 + 3  # each resend of unprocessed items is a request
    assert throttled.calls == 2  # answered before sending: not counted
    assert sent["Query"] == 1 + len(chosen_for_trim([int(o) for o in owners], int(entry.post_id), 100))


# --- the trim's epoch guard ---------------------------------------------------------------------


async def test_a_removal_between_a_trims_read_and_its_deletes_keeps_the_window(
    tiny: DynamoTimelineStore,
) -> None:
    owner = UserId(new_ids(1)[0])
    e2, e3, e4, e5 = new_entries(4)
    await tiny.rebuild(owner=owner, entries=[e2, e3, e4])  # full: floor e2
    # the trim that follows backfilling e5 reads [e5, e4, e3, e2] and means to delete e2; just
    # before its transaction, e4 is removed, so e2 is back in the window
    race = before_each(tiny, "TransactWriteItems", lambda: remove(tiny, owner, e4))

    await tiny.backfill(owner=owner, entries=[e5], complete_above=None)

    assert race.calls == 1  # cancelled (the epoch moved); the trim read again, found 3: done
    assert await tiny.timeline(owner=owner, before=None, limit=10) == [e5, e3, e2]
    assert await tiny.shortfall(owners=[owner]) == {}


async def remove(store: DynamoTimelineStore, owner: UserId, entry: TimelineEntry) -> None:
    await store.remove_post(owners=[owner], post_id=entry.post_id)


async def test_a_trim_that_keeps_losing_races_gives_up_quietly(
    tiny: DynamoTimelineStore, settings: AwsSettings
) -> None:
    owner = UserId(new_ids(1)[0])
    posts = new_entries(5)
    await tiny.rebuild(owner=owner, entries=posts[1:4])

    async def a_removal_lands() -> None:  # before every attempt's transaction: the epoch moves
        await tiny.client.update_item(
            TableName=settings.timelines_table,
            Key={"owner": {"S": owner}, "post": {"N": "0"}},
            UpdateExpression="ADD epoch :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    race = before_each(tiny, "TransactWriteItems", a_removal_lands)
    await tiny.backfill(owner=owner, entries=[posts[4]], complete_above=None)

    assert race.calls == 4  # every attempt failed; it gave up: the timeline is only larger
    assert await tiny.timeline_sizes(owners=[owner]) == {owner: 4}
    assert await tiny.timeline(owner=owner, before=None, limit=10) == [posts[4], posts[3], posts[2]]
    assert await tiny.shortfall(owners=[owner]) == {}


async def test_a_trim_moves_the_floor_to_the_cap_th_entry(tiny: DynamoTimelineStore) -> None:
    owner = UserId(new_ids(1)[0])
    posts = new_entries(6)
    await tiny.backfill(owner=owner, entries=posts, complete_above=None)

    assert await tiny.timeline_sizes(owners=[owner]) == {owner: 3}
    await tiny.remove_post(owners=[owner], post_id=posts[5].post_id)
    assert await tiny.shortfall(owners=[owner]) == {owner: Shortfall(missing=1, below=posts[3].post_id)}


# --- faults ---------------------------------------------------------------------------------


async def test_unprocessed_items_are_written_on_retry(store: DynamoTimelineStore) -> None:
    owners = [UserId(i) for i in new_ids(120)]  # 5 batches of 25
    entry = new_entries(1)[0]
    injected = withhold_half_of_batch_writes(store, times=3)

    await store.add_to_timelines(owners=owners, entry=entry)

    assert injected.calls == 3
    assert await store.timeline_sizes(owners=owners) == dict.fromkeys(owners, 1)
    for owner in (owners[0], owners[60], owners[-1]):
        assert await store.timeline(owner=owner, before=None, limit=5) == [entry]


async def test_items_left_unprocessed_too_long_fail_retryably(store: DynamoTimelineStore) -> None:
    withhold_half_of_batch_writes(store, times=100)
    entry = new_entries(1)[0]
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
    owner = UserId(new_ids(1)[0])
    entry = new_entries(1)[0]
    throttled_writes = inject_error(store.client, "BatchWriteItem", "ThrottlingException", times=2)
    await store.add_to_timelines(owners=[owner], entry=entry)
    assert throttled_writes.calls == 2
    assert await store.timeline_sizes(owners=[owner]) == {owner: 1}

    throttled_epochs = inject_error(store.client, "UpdateItem", "ThrottlingException", times=2)
    assert await store.remove_post(owners=[owner], post_id=entry.post_id) == [owner]
    assert throttled_epochs.calls == 2
    assert await store.timeline_sizes(owners=[owner]) == {owner: 0}


async def test_server_errors_are_retryable_and_validation_errors_permanent(
    store: DynamoTimelineStore,
) -> None:
    owner = UserId(new_ids(1)[0])
    failing = inject_error(store.client, "BatchGetItem", "InternalServerError")
    with pytest.raises(RetryableStoreError):
        await store.shortfall(owners=[owner])
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
    entry = new_entries(1)[0]
    with pytest.raises(PermanentStoreError):
        await store.add_to_timelines(owners=[UserId("not-an-id")], entry=entry)
    with pytest.raises(PermanentStoreError):
        await store.add_to_timelines(
            owners=[UserId(new_ids(1)[0])], entry=TimelineEntry(PostId("0"), entry.author_id)
        )
    with pytest.raises(PermanentStoreError):
        await store.refill(owner=UserId(new_ids(1)[0]), entries=[], below=PostId("x"), wanted=1)
    assert await store.timeline_sizes(owners=[UserId("x")]) == {"x": 0}
    assert await store.remove_post(owners=[UserId("x")], post_id=entry.post_id) == []
    assert await store.shortfall(owners=[UserId("x")]) == {}
