"""SqsQueue beyond the contract: the FIFO queues and redrive policy it sets up, message groups
and deduplication ids, two lanes sharing a dead-letter queue, base64 bodies, fractional timeouts,
retries. A real client against the session's moto server, with faults injected through the
client's event hooks."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from murmur.domain import PermanentStoreError, RetryableStoreError
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff
from murmur.storage.base import Outgoing, QueueDepth
from murmur.storage.sqs import SqsQueue
from tests.contract.backends.aws import Injected, aws_settings, inject_error
from tests.servers import MotoServer

FAST = Backoff(attempts=4, base_seconds=0.001, max_seconds=0.01)


@pytest.fixture
def settings(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsSettings:
    return aws_settings(moto_server, monkeypatch)


async def open_queue(
    settings: AwsSettings, *, create_missing: bool = True, visibility: float = 30, bulk: bool = False
) -> SqsQueue:
    return await SqsQueue.open(
        settings,
        queue_name=settings.fanout_bulk_queue if bulk else settings.fanout_queue,
        visibility_timeout_seconds=visibility,
        max_receives=4,
        create_missing=create_missing,
        backoff=FAST,
    )


@pytest.fixture
async def queue(settings: AwsSettings) -> AsyncIterator[SqsQueue]:
    queue = await open_queue(settings)
    try:
        yield queue
    finally:
        for url in (queue.url, queue.dead_letter_url):
            await queue.client.delete_queue(QueueUrl=url)
        await queue.close()


def send(queue: SqsQueue, bodies: list[bytes]) -> Any:
    return queue.send(messages=[Outgoing(body) for body in bodies])


async def attributes_of(queue: SqsQueue, url: str) -> dict[str, str]:
    response = await queue.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return {str(name): value for name, value in response["Attributes"].items()}


async def raw_messages(queue: SqsQueue, url: str) -> list[dict[str, Any]]:
    """Look at a queue's messages behind the class's back, with their group and dedup ids
    (visibility 0: they stay receivable)."""
    response = await queue.client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
    )
    return [dict(m) for m in response.get("Messages", [])]


HIGH_THROUGHPUT_FIFO = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "messageGroup",
    "FifoThroughputLimit": "perMessageGroupId",
}


async def test_opening_creates_two_high_throughput_fifo_queues_and_the_redrive_policy(
    queue: SqsQueue,
) -> None:
    attributes = await attributes_of(queue, queue.url)
    dead = await attributes_of(queue, queue.dead_letter_url)

    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead["QueueArn"],
        "maxReceiveCount": 4,
    }
    assert attributes["VisibilityTimeout"] == "30"
    for queue_attributes in (attributes, dead):
        assert {key: queue_attributes[key] for key in HIGH_THROUGHPUT_FIFO} == HIGH_THROUGHPUT_FIFO


async def test_opening_again_is_idempotent_and_needs_the_queues_without_create(settings: AwsSettings) -> None:
    with pytest.raises(PermanentStoreError, match="murmur init"):
        await open_queue(settings, create_missing=False)

    first = await open_queue(settings)
    again = await open_queue(settings, visibility=2.5)  # a changed setting is applied, not refused
    existing = await open_queue(settings, create_missing=False)
    try:
        assert first.url == again.url == existing.url
        assert first.dead_letter_url == again.dead_letter_url == existing.dead_letter_url
        attributes = await first.client.get_queue_attributes(
            QueueUrl=first.url, AttributeNames=["VisibilityTimeout"]
        )
        assert attributes["Attributes"]["VisibilityTimeout"] == "3"  # whole seconds, rounded up
        await existing.ping()
    finally:
        for url in (first.url, first.dead_letter_url):
            await first.client.delete_queue(QueueUrl=url)
        for queue in (first, again, existing):
            await queue.close()


def test_settings_sqs_cannot_honour_are_refused() -> None:
    def opening(queue_name: str = "murmur-fanout.fifo", max_receives: int = 4) -> Any:
        return SqsQueue.open(
            AwsSettings(),
            queue_name=queue_name,
            visibility_timeout_seconds=30,
            max_receives=max_receives,
            create_missing=False,
        )

    with pytest.raises(ValueError, match="maxReceiveCount"):
        asyncio.run(opening(max_receives=0))
    with pytest.raises(ValueError, match="FIFO"):
        asyncio.run(opening(queue_name="murmur-fanout"))


async def test_two_lanes_share_one_dead_letter_queue(settings: AwsSettings) -> None:
    express = await open_queue(settings)
    bulk = await open_queue(settings, bulk=True)
    try:
        assert express.url != bulk.url and express.dead_letter_url == bulk.dead_letter_url
        redrives = [json.loads((await attributes_of(q, q.url))["RedrivePolicy"]) for q in (express, bulk)]
        assert redrives[0] == redrives[1]

        for lane, body in ((express, b"express poison"), (bulk, b"bulk poison")):
            await send(lane, [body])
            (message,) = await lane.receive(max_messages=1, wait_seconds=0)
            await lane.dead_letter(receipts=[message.receipt])
        assert sorted(await bulk.dead_letters(limit=10)) == [b"bulk poison", b"express poison"]
        assert (await express.depth()).dead == (await bulk.depth()).dead == 2
    finally:
        for url in (express.url, bulk.url, express.dead_letter_url):
            await express.client.delete_queue(QueueUrl=url)
        for lane in (express, bulk):
            await lane.close()


async def test_every_message_is_a_group_of_its_own(queue: SqsQueue) -> None:
    await queue.send(messages=[Outgoing(b"keyed", dedup_key="post:1:add:0"), Outgoing(b"a"), Outgoing(b"b")])

    raw = {m["Body"]: m["Attributes"] for m in await raw_messages(queue, queue.url)}
    ids = {
        base64.b64decode(body): (a["MessageGroupId"], a["MessageDeduplicationId"]) for body, a in raw.items()
    }
    assert ids[b"keyed"] == ("post:1:add:0", "post:1:add:0")
    assert ids[b"a"][0] == ids[b"a"][1] != ids[b"b"][0] == ids[b"b"][1]  # fresh ids, no key
    # holding one message in flight holds back no other (one group would: FIFO)
    (held,) = await queue.receive(max_messages=1, wait_seconds=0)
    others = await queue.receive(max_messages=10, wait_seconds=0)
    assert sorted([held.body, *(m.body for m in others)]) == [b"a", b"b", b"keyed"]


async def test_a_key_sqs_would_refuse_as_an_id_still_deduplicates(queue: SqsQueue) -> None:
    key = "ünïcode and spaces " * 10  # not SQS's characters, and over its 128
    await queue.send(messages=[Outgoing(b"first", dedup_key=key), Outgoing(b"second", dedup_key=key)])
    await queue.send(messages=[Outgoing(b"third", dedup_key=key)])

    (raw,) = await raw_messages(queue, queue.url)
    assert raw["Attributes"]["MessageDeduplicationId"].startswith("sha256:")
    assert [m.body for m in await queue.receive(max_messages=10, wait_seconds=0)] == [b"first"]


async def test_any_bytes_survive_the_trip_as_base64_text(queue: SqsQueue) -> None:
    bodies = [bytes(range(256)), b"\x00", b"\xff\xfe not utf-8 \x80", random.Random(1).randbytes(4096)]
    await send(queue, bodies)

    raw = await queue.client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert [base64.b64decode(m["Body"], validate=True) for m in raw["Messages"]] == bodies
    received = await queue.receive(max_messages=10, wait_seconds=0)
    assert [m.body for m in received] == bodies


async def test_more_than_ten_messages_are_several_calls(queue: SqsQueue) -> None:
    bodies = [str(i).encode() for i in range(25)]
    await send(queue, bodies)

    received = await queue.receive(max_messages=25, wait_seconds=0)
    assert sorted(m.body for m in received) == sorted(bodies)
    await queue.dead_letter(receipts=[m.receipt for m in received])
    assert sorted(await queue.dead_letters(limit=30)) == sorted(bodies)
    assert len(await queue.dead_letters(limit=12)) == 12  # peeking leaves them there
    assert (await queue.depth()).dead == 25


async def test_a_fractional_retry_delay_is_honoured(queue: SqsQueue) -> None:
    await send(queue, [b"soon"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.retry_later(receipt=message.receipt, delay_seconds=0.3)

    assert await queue.receive(max_messages=1, wait_seconds=0) == []
    await asyncio.sleep(0.45)  # well before SQS's own whole second
    assert [m.body for m in await queue.receive(max_messages=1, wait_seconds=0)] == [b"soon"]


async def test_a_fractional_extension_is_honoured(queue: SqsQueue) -> None:
    await send(queue, [b"heartbeat"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)  # a 30 s lease
    await queue.extend(receipts=[message.receipt], seconds=0.3)

    assert await queue.receive(max_messages=1, wait_seconds=0) == []
    await asyncio.sleep(0.45)  # well before SQS's own whole second
    again = await queue.receive(max_messages=1, wait_seconds=0)
    assert [(m.body, m.receive_count) for m in again] == [(b"heartbeat", 2)]


async def test_a_released_message_keeps_its_receive_count(queue: SqsQueue) -> None:
    # SQS cannot take a receive back (SQLite's queue does): documented, and counted on here
    await send(queue, [b"not started"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.release(receipts=[message.receipt])

    again = await queue.receive(max_messages=1, wait_seconds=0)
    assert [(m.body, m.receive_count) for m in again] == [(b"not started", 2)]


async def test_a_dead_letter_copy_is_grouped_by_its_message_id_not_its_key(queue: SqsQueue) -> None:
    # not the key: another message sent with it later, dead too, must not be deduplicated away
    await queue.send(messages=[Outgoing(b"poison", dedup_key="post:7:add:3")])
    (original,) = await raw_messages(queue, queue.url)
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.dead_letter(receipts=[message.receipt])

    (copy,) = await raw_messages(queue, queue.dead_letter_url)
    ids = (copy["Attributes"]["MessageGroupId"], copy["Attributes"]["MessageDeduplicationId"])
    assert ids == (original["MessageId"], original["MessageId"])


async def test_only_this_process_receipts_can_be_dead_lettered(queue: SqsQueue) -> None:
    with pytest.raises(PermanentStoreError, match="not a receipt"):
        await queue.dead_letter(receipts=["someone else's"])


async def test_throttled_sends_are_retried_then_given_up(queue: SqsQueue) -> None:
    throttled = inject_error(queue.client, "SendMessageBatch", "RequestThrottled", times=2)
    await send(queue, [b"after two throttles"])
    assert throttled.calls == 2
    assert [m.body for m in await queue.receive(max_messages=1, wait_seconds=0)] == [b"after two throttles"]

    always = inject_error(queue.client, "ReceiveMessage", "ThrottlingException")
    with pytest.raises(RetryableStoreError):
        await queue.receive(max_messages=1, wait_seconds=0)
    assert always.calls == FAST.attempts


def fail_batch_entries(queue: SqsQueue, operation: str, *, times: int) -> Injected:
    """The first `times` batch calls of an operation send only their first entry; the rest come
    back as Failed (a server-side fault, so worth resending), as SQS's partial failures do."""
    injected = Injected()

    def withhold(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if injected.calls < times and len(params["Entries"]) > 1:
            injected.calls += 1
            params["Entries"], context["failed"] = params["Entries"][:1], params["Entries"][1:]

    def report(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        failed = context.pop("failed", [])
        parsed["Failed"] = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in failed]

    queue.client.meta.events.register(f"before-parameter-build.sqs.{operation}", withhold)
    queue.client.meta.events.register(f"after-call.sqs.{operation}", report)
    return injected


async def test_failed_batch_entries_are_resent(queue: SqsQueue) -> None:
    failing = fail_batch_entries(queue, "SendMessageBatch", times=2)
    await send(queue, [b"a", b"b", b"c", b"d"])
    assert failing.calls == 2

    received = await queue.receive(max_messages=10, wait_seconds=0)
    assert sorted(m.body for m in received) == [b"a", b"b", b"c", b"d"]
    fail_batch_entries(queue, "DeleteMessageBatch", times=1)
    await queue.ack(receipts=[m.receipt for m in received])
    assert (await queue.depth()).in_flight == 0


def lose_answers(queue: SqsQueue, operation: str, *, times: int) -> Injected:
    """The first `times` calls of an operation reach SQS and are done, but their answers are
    lost on the way back (a dropped connection): the caller cannot tell and tries again."""
    injected = Injected()

    def lose(**_: Any) -> None:
        if injected.calls < times:
            injected.calls += 1
            raise ConnectionClosedError(endpoint_url=queue.url)

    queue.client.meta.events.register(f"after-call.sqs.{operation}", lose)
    return injected


async def test_a_send_whose_answer_was_lost_is_not_doubled(queue: SqsQueue) -> None:
    lost = lose_answers(queue, "SendMessageBatch", times=1)
    await queue.send(messages=[Outgoing(b"keyed", dedup_key="post:3:add:0"), Outgoing(b"keyless")])
    assert lost.calls == 1

    received = await queue.receive(max_messages=10, wait_seconds=0)
    assert sorted(m.body for m in received) == [b"keyed", b"keyless"]


async def test_a_dead_letter_whose_answer_was_lost_is_not_doubled(queue: SqsQueue) -> None:
    await send(queue, [b"poison"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    lost = lose_answers(queue, "SendMessageBatch", times=1)
    await queue.dead_letter(receipts=[message.receipt])
    assert lost.calls == 1

    assert await queue.dead_letters(limit=10) == [b"poison"]


async def test_a_retried_receive_asks_for_the_same_messages_again(queue: SqsQueue) -> None:
    attempts: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        attempts.append(params["ReceiveRequestAttemptId"])

    queue.client.meta.events.register("before-parameter-build.sqs.ReceiveMessage", note)
    inject_error(queue.client, "ReceiveMessage", "InternalError", times=1)
    await send(queue, [b"once"])
    assert [m.body for m in await queue.receive(max_messages=1, wait_seconds=0)] == [b"once"]
    await queue.receive(max_messages=1, wait_seconds=0)

    assert len(attempts) == 3 and attempts[0] == attempts[1] != attempts[2]


async def test_one_refused_receipt_does_not_stop_the_rest_of_a_batch(queue: SqsQueue) -> None:
    await send(queue, [b"a", b"b", b"c"])
    a, b, c = await queue.receive(max_messages=3, wait_seconds=0)

    with pytest.raises(PermanentStoreError, match="1 refused"):
        await queue.ack(receipts=[a.receipt, "not a receipt", b.receipt])
    with pytest.raises(PermanentStoreError, match="1 refused"):
        await queue.extend(receipts=["not a receipt", c.receipt], seconds=30)
    # a release names what it no longer holds without complaint (see the queue contract)
    await queue.release(receipts=["not a receipt", c.receipt])
    assert await queue.depth() == QueueDepth(visible=1, in_flight=0, dead=0)  # a, b acked; c back


async def test_failed_visibility_entries_are_resent(queue: SqsQueue) -> None:
    await send(queue, [b"a", b"b", b"c"])
    received = await queue.receive(max_messages=3, wait_seconds=0)
    failing = fail_batch_entries(queue, "ChangeMessageVisibilityBatch", times=1)
    await queue.release(receipts=[m.receipt for m in received])
    assert failing.calls == 1

    again = await queue.receive(max_messages=3, wait_seconds=0)
    assert sorted(m.body for m in again) == [b"a", b"b", b"c"]
