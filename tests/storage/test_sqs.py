"""SqsQueue beyond the contract: the queues and redrive policy it sets up, base64 bodies,
fractional timeouts, retries. A real client against the session's moto server, with faults
injected through the client's event hooks."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from murmur.domain import PermanentStoreError, RetryableStoreError
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff
from murmur.storage.sqs import SqsQueue
from tests.contract.backends.aws import Injected, aws_settings, inject_error
from tests.servers import MotoServer

FAST = Backoff(attempts=4, base_seconds=0.001, max_seconds=0.01)


@pytest.fixture
def settings(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsSettings:
    return aws_settings(moto_server, monkeypatch)


async def open_queue(
    settings: AwsSettings, *, create_missing: bool = True, visibility: float = 30
) -> SqsQueue:
    return await SqsQueue.open(
        settings,
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


async def test_opening_creates_both_queues_and_the_redrive_policy(queue: SqsQueue) -> None:
    attributes = (await queue.client.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"]))[
        "Attributes"
    ]
    dead_arn = (
        await queue.client.get_queue_attributes(QueueUrl=queue.dead_letter_url, AttributeNames=["QueueArn"])
    )["Attributes"]["QueueArn"]

    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dead_arn, "maxReceiveCount": 4}
    assert attributes["VisibilityTimeout"] == "30"


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
    with pytest.raises(ValueError, match="maxReceiveCount"):
        asyncio.run(
            SqsQueue.open(AwsSettings(), visibility_timeout_seconds=30, max_receives=0, create_missing=False)
        )


async def test_any_bytes_survive_the_trip_as_base64_text(queue: SqsQueue) -> None:
    bodies = [bytes(range(256)), b"\x00", b"\xff\xfe not utf-8 \x80", random.Random(1).randbytes(4096)]
    await queue.send(bodies=bodies)

    raw = await queue.client.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert [base64.b64decode(m["Body"], validate=True) for m in raw["Messages"]] == bodies
    received = await queue.receive(max_messages=10, wait_seconds=0)
    assert [m.body for m in received] == bodies


async def test_more_than_ten_messages_are_several_calls(queue: SqsQueue) -> None:
    bodies = [str(i).encode() for i in range(25)]
    await queue.send(bodies=bodies)

    received = await queue.receive(max_messages=25, wait_seconds=0)
    assert sorted(m.body for m in received) == sorted(bodies)
    await queue.dead_letter(receipts=[m.receipt for m in received])
    assert sorted(await queue.dead_letters(limit=30)) == sorted(bodies)
    assert len(await queue.dead_letters(limit=12)) == 12  # peeking leaves them there
    assert (await queue.depth()).dead == 25


async def test_a_fractional_retry_delay_is_honoured(queue: SqsQueue) -> None:
    await queue.send(bodies=[b"soon"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.retry_later(receipt=message.receipt, delay_seconds=0.3)

    assert await queue.receive(max_messages=1, wait_seconds=0) == []
    await asyncio.sleep(0.45)  # well before SQS's own whole second
    assert [m.body for m in await queue.receive(max_messages=1, wait_seconds=0)] == [b"soon"]


async def test_only_this_process_receipts_can_be_dead_lettered(queue: SqsQueue) -> None:
    with pytest.raises(PermanentStoreError, match="not a receipt"):
        await queue.dead_letter(receipts=["someone else's"])


async def test_throttled_sends_are_retried_then_given_up(queue: SqsQueue) -> None:
    throttled = inject_error(queue.client, "SendMessageBatch", "RequestThrottled", times=2)
    await queue.send(bodies=[b"after two throttles"])
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
    await queue.send(bodies=[b"a", b"b", b"c", b"d"])
    assert failing.calls == 2

    received = await queue.receive(max_messages=10, wait_seconds=0)
    assert sorted(m.body for m in received) == [b"a", b"b", b"c", b"d"]
    fail_batch_entries(queue, "DeleteMessageBatch", times=1)
    await queue.ack(receipts=[m.receipt for m in received])
    assert (await queue.depth()).in_flight == 0
