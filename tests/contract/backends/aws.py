"""Contract-suite fixtures for the aws backends (see tests/contract/conftest.py).

DynamoDB timelines and the SQS queue, on the session's moto server; every test gets
a table or a pair of FIFO queues (a lane and its dead-letter queue) of its own (uuid
names), deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest

from murmur.settings import AwsSettings
from murmur.storage.dynamodb import DynamoTimelineStore
from murmur.storage.sqs import SqsQueue
from tests.contract.backends.aws_semantics import AwsFifoSemantics
from tests.servers import MotoServer

if TYPE_CHECKING:
    from tests.contract.contract_helpers import QueueConfig

# Contract tests SQS cannot pass, and why (each still runs: strict xfail, so a pass is noticed).
# None today: where moto is kinder than AWS (dedup ids, stale receipts), the queue runs behind
# AwsFifoSemantics, which keeps AWS's rules.
SQS_DIVERGES: dict[str, str] = {}


def aws_settings(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> AwsSettings:
    """Settings for moto; its dummy credentials reach the client through the usual chain."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_access_key)
    name = uuid.uuid4().hex[:12]
    return AwsSettings(
        region=moto.region,
        endpoint_url=moto.url,
        timelines_table=f"timelines-{name}",
        fanout_queue=f"fanout-{name}.fifo",
        fanout_bulk_queue=f"fanout-bulk-{name}.fifo",
        fanout_dead_letter_queue=f"fanout-dlq-{name}.fifo",
    )


@pytest.fixture
async def dynamodb_timelines(
    moto_server: MotoServer, timeline_cap: int, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DynamoTimelineStore]:
    settings = aws_settings(moto_server, monkeypatch)
    # trims every 10 pushes, not 100: the same code paths, ten times fewer pushes to reach them on moto
    store = await DynamoTimelineStore.open(settings, cap=timeline_cap, create_missing=True, trim_every=10)
    try:
        yield store
    finally:
        await store.client.delete_table(TableName=settings.timelines_table)
        await store.close()


@pytest.fixture
async def sqs_queue(
    moto_server: MotoServer,
    queue_config: QueueConfig,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> AsyncIterator[SqsQueue]:
    reason = SQS_DIVERGES.get(request.node.originalname)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    settings = aws_settings(moto_server, monkeypatch)
    queue = await SqsQueue.open(
        settings,
        queue_name=settings.fanout_queue,
        visibility_timeout_seconds=queue_config.visibility_timeout_seconds,
        max_receives=queue_config.max_receives,
        create_missing=True,
    )
    # AWS's FIFO rules where moto's are kinder (aws_semantics.py); the dedup window on the
    # test's clock, as SQLite's
    queue.client = cast(Any, AwsFifoSemantics(queue.client, clock=queue_config.clock))
    try:
        yield queue
    finally:
        for url in (queue.url, queue.dead_letter_url):
            await queue.client.delete_queue(QueueUrl=url)
        await queue.close()


# --- faults injected into a real client (tests/storage/test_dynamodb.py, test_sqs.py) -------


@dataclass
class Injected:
    """How many calls an injected fault answered."""

    calls: int = 0


@dataclass(frozen=True)
class _Status:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def inject_error(client: Any, operation: str, code: str, *, times: int | None = None) -> Injected:
    """Answer the next `times` calls of one operation (every call, if None) with an AWS error
    before they reach the server, as a throttled or failing service would."""
    injected = Injected()
    status = 500 if code.startswith("Internal") else 400

    def answer(**_: Any) -> tuple[_Status, dict[str, Any]] | None:
        if times is not None and injected.calls >= times:
            return None
        injected.calls += 1
        error = {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return _Status(status), error

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"before-call.{service}.{operation}", answer)
    return injected
