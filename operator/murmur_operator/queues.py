"""Queue depth from SQS: visible, in flight and delayed, summed over the workers' queues."""

from __future__ import annotations

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from murmur_operator.decision import QueueCounts
from murmur_operator.spec import SqsSpec

ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]
# an unreachable endpoint must fail within one poll, not after botocore's retries
CLIENT_CONFIG = AioConfig(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})


class QueueUnreadable(Exception):
    """SQS could not be asked; the message says why (for the QueueReadable condition)."""


_session: AioSession | None = None


def _shared_session() -> AioSession:
    """One session for every poll: it caches the service model a client is built from."""
    global _session
    if _session is None:
        _session = get_session()
    return _session


async def read_counts(sqs: SqsSpec) -> QueueCounts:
    try:
        async with _shared_session().create_client(
            "sqs", region_name=sqs.region, endpoint_url=sqs.endpoint_url, config=CLIENT_CONFIG
        ) as client:
            # one after the other, in this task: kopf re-raises at shutdown the failure of any
            # task still around (gather's children, when a read failed as the operator stopped)
            totals = [await _one(client, q.url, q.name) for q in sqs.queues]
    except Exception as error:  # any failure to read means: hold, and say why
        raise QueueUnreadable(f"{type(error).__name__}: {error}") from error
    return QueueCounts(
        visible=sum(t[0] for t in totals),
        in_flight=sum(t[1] for t in totals),
        delayed=sum(t[2] for t in totals),
    )


async def _one(client: object, url: str | None, name: str | None) -> tuple[int, int, int]:
    sqs = client  # aiobotocore's clients are generated at run time
    if url is None:
        url = (await sqs.get_queue_url(QueueName=name))["QueueUrl"]  # type: ignore[attr-defined]
    got = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=ATTRIBUTES)  # type: ignore[attr-defined]
    attributes = got["Attributes"]
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )
