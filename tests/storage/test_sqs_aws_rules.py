"""SqsQueue held to AWS's rules where moto is kinder (through the contract suite's
AwsFifoSemantics layer), and the queue attributes it sets: retention on every queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from murmur.domain import PermanentStoreError
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff
from murmur.storage.base import Outgoing, QueueDepth
from murmur.storage.sqs import SqsQueue
from tests.contract.backends.aws import aws_settings
from tests.contract.backends.aws_semantics import AwsFifoSemantics
from tests.servers import MotoServer

FAST = Backoff(attempts=4, base_seconds=0.001, max_seconds=0.01)
FOURTEEN_DAYS = "1209600"  # SQS's longest retention


@pytest.fixture
def settings(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsSettings:
    return aws_settings(moto_server, monkeypatch)


async def open_lane(settings: AwsSettings, *, bulk: bool = False) -> SqsQueue:
    return await SqsQueue.open(
        settings,
        queue_name=settings.fanout_bulk_queue if bulk else settings.fanout_queue,
        visibility_timeout_seconds=30,
        max_receives=4,
        create_missing=True,
        backoff=FAST,
    )


@pytest.fixture
async def queue(settings: AwsSettings) -> AsyncIterator[SqsQueue]:
    queue = await open_lane(settings)
    queue.client = cast(Any, AwsFifoSemantics(queue.client))
    try:
        yield queue
    finally:
        for url in (queue.url, queue.dead_letter_url):
            await queue.client.delete_queue(QueueUrl=url)
        await queue.close()


async def retention_of(queue: SqsQueue, url: str) -> str:
    response = await queue.client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["MessageRetentionPeriod"]
    )
    return str(response["Attributes"]["MessageRetentionPeriod"])


async def test_every_lane_and_the_dead_letter_queue_keep_messages_14_days(settings: AwsSettings) -> None:
    """SQS's default is 4 days: a chunk starved that long would expire unseen."""
    express, bulk = await open_lane(settings), await open_lane(settings, bulk=True)
    try:
        for url in (express.url, bulk.url, express.dead_letter_url):
            assert await retention_of(express, url) == FOURTEEN_DAYS
    finally:
        for url in (express.url, bulk.url, express.dead_letter_url):
            await express.client.delete_queue(QueueUrl=url)
        for lane in (express, bulk):
            await lane.close()


async def test_a_receipt_whose_lease_ran_out_makes_no_dead_letter_copy(queue: SqsQueue) -> None:
    """A worker dead-letters with the receipt of a delivery whose lease ran out, while another
    worker holds the message: AWS refuses the receipt. The copy must not be sent first, or the
    message is dead and alive at once."""
    await queue.send(messages=[Outgoing(b"work")])
    (stale,) = await queue.receive(max_messages=1, wait_seconds=0)
    # the lease ends (as if the worker stalled past it), and the message is received again
    await queue.client.change_message_visibility(
        QueueUrl=queue.url, ReceiptHandle=stale.receipt, VisibilityTimeout=0
    )
    (current,) = await queue.receive(max_messages=1, wait_seconds=0)

    with pytest.raises(PermanentStoreError, match="expired"):
        await queue.dead_letter(receipts=[stale.receipt])
    assert await queue.dead_letters(limit=10) == []
    assert await queue.depth() == QueueDepth(visible=0, in_flight=1, dead=0)
    await queue.ack(receipts=[current.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_a_stale_ack_is_refused_as_aws_refuses_it(queue: SqsQueue) -> None:
    await queue.send(messages=[Outgoing(b"work")])
    (stale,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.release(receipts=[stale.receipt])
    (current,) = await queue.receive(max_messages=1, wait_seconds=0)

    with pytest.raises(PermanentStoreError, match="ReceiptHandleIsInvalid"):
        await queue.ack(receipts=[stale.receipt])
    await queue.ack(receipts=[current.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_the_oldest_message_age_is_left_to_cloudwatch(queue: SqsQueue) -> None:
    await queue.send(messages=[Outgoing(b"waiting")])
    assert await queue.oldest_age() is None
