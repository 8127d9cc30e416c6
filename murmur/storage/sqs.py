"""The fan-out queue on SQS: a standard queue, and a dead-letter queue it redrives into.

- Receipts are SQS receipt handles; receive_count is SQS's ApproximateReceiveCount.
- After max_receives deliveries SQS itself moves a message to the dead-letter queue (the
  redrive policy's maxReceiveCount), on the receive that would have been one too many.
  SQS takes 1..1000; below 3, a worker restart or two (leases running out) is enough to
  dead-letter a healthy message, so 3 or more is the sensible range (the default is 5).
- Bodies are bytes (protobuf); SQS bodies are text, so they travel base64-encoded.
- Long polling: WaitTimeSeconds is whole seconds, at most 20, so a wait is rounded up and
  a longer one is several polls. Up to 10 messages a call; more are several calls.
- SQS counts visibility timeouts and delays in whole seconds. A fractional one is honoured
  by this process: the lease is taken for the seconds rounded up, and the message is made
  visible again (ChangeMessageVisibility 0) at the exact time. If the process dies first,
  SQS's rounded-up timeout still releases it.
- dead_letter sends the body to the dead-letter queue, then deletes the message: a crash
  between the two leaves a copy in both (at least once), never none. The body comes from
  the receive that issued the receipt, so only receipts of this process can be dead-lettered.
- dead_letters peeks: it receives from the dead-letter queue, then makes what it saw
  visible again.
- Standard queues deliver in roughly, not strictly, the order sent, and a short poll
  (wait_seconds=0) samples only some of SQS's servers, so it may miss messages that are
  there; moto has neither quirk.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from murmur.domain import PermanentStoreError, StoreError
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff, call, chunks, drain, error_code, open_client
from murmur.storage.base import QueueDepth, QueueMessage
from murmur.storage.counting import counted

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

T = TypeVar("T")
Entry = dict[str, Any]

_BATCH = 10  # SQS's most messages per call
_MAX_WAIT_SECONDS = 20
_MAX_VISIBILITY_SECONDS = 43_200
_PEEK_SECONDS = 5  # how long dead_letters hides what it reads before putting it back
_DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's longest


@dataclass
class _Lease:
    """What this process knows about a message it received: its body (for dead-lettering)
    and the timer that ends a fractional visibility timeout early."""

    body: str | None  # None once the message is no longer ours to dead-letter (retried)
    expires_at: float  # when the (fractional) lease ends
    sqs_expires_at: float  # when SQS's whole-second lease ends: releasing later would end a newer lease
    release: asyncio.TimerHandle | None = None


def _encode(body: bytes) -> str:
    return base64.b64encode(body).decode("ascii")


def _decode(text: str) -> bytes:
    """The bytes a body stands for; a body that is not base64 (not sent by this class) comes
    back as its text, which the consumer's decoder refuses as poison."""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return text.encode()


def _whole_seconds(seconds: float, *, at_most: int) -> int:
    return min(at_most, max(0, math.ceil(seconds)))


@counted("queue")
class SqsQueue:
    def __init__(
        self,
        *,
        client: SQSClient,
        url: str,
        dead_letter_url: str,
        visibility_timeout_seconds: float,
        stack: AsyncExitStack,
        backoff: Backoff,
    ) -> None:
        self.client = client  # public for instrumentation: tests inject faults through its event hooks
        self.url = url
        self.dead_letter_url = dead_letter_url
        self._visibility = visibility_timeout_seconds
        self._stack = stack
        self._backoff = backoff
        self._leases: dict[str, _Lease] = {}
        self._releases: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(
        cls,
        settings: AwsSettings,
        *,
        visibility_timeout_seconds: float,
        max_receives: int,
        create_missing: bool,
        backoff: Backoff | None = None,
    ) -> SqsQueue:
        """Connect to both queues; with create_missing, create them and (re)set the redrive
        policy and visibility timeout, idempotently."""
        if not 0 < visibility_timeout_seconds <= _MAX_VISIBILITY_SECONDS:
            raise ValueError(f"an SQS visibility timeout is over 0 and at most {_MAX_VISIBILITY_SECONDS} s")
        if not 1 <= max_receives <= 1000:
            raise ValueError("SQS's maxReceiveCount is 1..1000")
        stack = AsyncExitStack()
        try:
            client = await open_client("sqs", settings, stack, pool=16)
            backoff = backoff or Backoff()
            urls = await _queue_urls(client, settings, create_missing=create_missing, backoff=backoff)
            queue = cls(
                client=client,
                url=urls[0],
                dead_letter_url=urls[1],
                visibility_timeout_seconds=visibility_timeout_seconds,
                stack=stack,
                backoff=backoff,
            )
            if create_missing:
                await queue._configure(max_receives)
        except BaseException:
            await stack.aclose()
            raise
        return queue

    async def close(self) -> None:
        for lease in self._leases.values():
            if lease.release is not None:
                lease.release.cancel()
        for task in self._releases:
            task.cancel()
        await asyncio.gather(*self._releases, return_exceptions=True)
        await self._stack.aclose()

    async def ping(self) -> None:
        await self._call(
            lambda: self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"]), "ping"
        )

    # --- the Queue protocol -------------------------------------------------------------------

    async def send(self, *, bodies: Sequence[bytes]) -> None:
        # one batch after another, so messages sent together arrive in order as far as SQS keeps it
        for chunk in chunks([_encode(body) for body in bodies], _BATCH):
            await self._send_batch(self.url, chunk)

    async def receive(self, *, max_messages: int, wait_seconds: float) -> list[QueueMessage]:
        deadline = time.monotonic() + wait_seconds
        messages: list[QueueMessage] = []
        while len(messages) < max_messages:
            remaining = deadline - time.monotonic()
            # long-poll only while nothing has come; once something has, take what is there now
            wait = 0 if messages else _whole_seconds(remaining, at_most=_MAX_WAIT_SECONDS)
            wanted = min(_BATCH, max_messages - len(messages))
            batch = await self._receive_batch(wanted, wait)
            messages.extend(batch)
            if len(batch) < wanted and (messages or time.monotonic() >= deadline):
                break
        return messages

    async def ack(self, *, receipts: Sequence[str]) -> None:
        await self._delete(self.url, list(dict.fromkeys(receipts)))

    async def retry_later(self, *, receipt: str, delay_seconds: float) -> None:
        self._forget(receipt)
        delay = min(max(0.0, delay_seconds), _MAX_VISIBILITY_SECONDS)
        await self._set_visibility(receipt, _whole_seconds(delay, at_most=_MAX_VISIBILITY_SECONDS))
        if 0 < delay < math.ceil(delay):
            now = time.monotonic()
            self._leases[receipt] = _Lease(
                body=None, expires_at=now + delay, sqs_expires_at=now + math.ceil(delay)
            )
            self._release_after(receipt, delay)

    async def dead_letter(self, *, receipts: Sequence[str]) -> None:
        receipts = list(dict.fromkeys(receipts))
        bodies = [lease.body if (lease := self._leases.get(r)) else None for r in receipts]
        if None in bodies:
            unknown = receipts[bodies.index(None)]
            raise PermanentStoreError(f"not a receipt of a message this process holds: {unknown!r}")
        for chunk in chunks(cast(list[str], bodies), _BATCH):
            await self._send_batch(self.dead_letter_url, chunk)
        await self._delete(self.url, receipts)

    async def dead_letters(self, *, limit: int) -> list[bytes]:
        seen: list[Entry] = []
        while len(seen) < limit:
            wanted = min(_BATCH, limit - len(seen))
            batch = await self._peek_dead_letters(wanted)
            seen.extend(batch)
            if len(batch) < wanted:
                break
        for chunk in chunks(seen, _BATCH):  # put them back for whoever looks next
            await self._show_dead_letters([m["ReceiptHandle"] for m in chunk])
        return [_decode(m["Body"]) for m in seen]

    async def depth(self) -> QueueDepth:
        main, dead = await asyncio.gather(self._counts(self.url), self._counts(self.dead_letter_url))
        return QueueDepth(visible=main[0], in_flight=main[1], dead=sum(dead))

    # --- calls ----------------------------------------------------------------------------------

    async def _receive_batch(self, wanted: int, wait: int) -> list[QueueMessage]:
        lease_seconds = _whole_seconds(self._visibility, at_most=_MAX_VISIBILITY_SECONDS)
        response = await self._call(
            lambda: self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=wait,
                VisibilityTimeout=lease_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ),
            "receive",
        )
        received_at = time.monotonic()
        self._prune(received_at)
        messages = []
        for message in response.get("Messages", []):
            receipt, body = message["ReceiptHandle"], message["Body"]
            self._leases[receipt] = _Lease(
                body=body,
                expires_at=received_at + self._visibility,
                sqs_expires_at=received_at + lease_seconds,
            )
            if self._visibility < lease_seconds:
                self._release_after(receipt, self._visibility)
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            messages.append(QueueMessage(receipt=receipt, body=_decode(body), receive_count=count))
        return messages

    async def _send_batch(self, url: str, texts: Sequence[str]) -> None:
        async def send(pending: list[tuple[int, str]]) -> list[tuple[int, str]]:
            entries = [{"Id": str(i), "MessageBody": text} for i, text in pending]
            response = await self._call(
                lambda: self.client.send_message_batch(QueueUrl=url, Entries=entries),  # type: ignore[arg-type]
                "send",
            )
            return self._unfinished(pending, cast(list[Entry], response.get("Failed", [])))

        await drain(send, list(enumerate(texts)), backoff=self._backoff, what=f"SQS send to {url}")

    async def _delete(self, url: str, receipts: list[str]) -> None:
        for receipt in receipts:
            self._forget(receipt)

        async def delete(pending: list[tuple[int, str]]) -> list[tuple[int, str]]:
            entries = [{"Id": str(i), "ReceiptHandle": receipt} for i, receipt in pending]
            response = await self._call(
                lambda: self.client.delete_message_batch(QueueUrl=url, Entries=entries),  # type: ignore[arg-type]
                "delete",
            )
            return self._unfinished(pending, cast(list[Entry], response.get("Failed", [])))

        for chunk in chunks(receipts, _BATCH):
            await drain(delete, list(enumerate(chunk)), backoff=self._backoff, what=f"SQS delete from {url}")

    @staticmethod
    def _unfinished(pending: list[tuple[int, str]], failed: list[Entry]) -> list[tuple[int, str]]:
        """The entries of a batch to send again; a failure that is the sender's fault (a bad
        receipt handle, a body too large) is raised, since resending cannot help."""
        for failure in failed:
            if failure.get("SenderFault"):
                raise PermanentStoreError(f"SQS refused {failure.get('Code')}: {failure.get('Message')}")
        retry = {int(failure["Id"]) for failure in failed}
        return [entry for entry in pending if entry[0] in retry]

    async def _peek_dead_letters(self, wanted: int) -> list[Entry]:
        response = await self._call(
            lambda: self.client.receive_message(
                QueueUrl=self.dead_letter_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0,
                VisibilityTimeout=_PEEK_SECONDS,
            ),
            "peek dead letters",
        )
        return cast(list[Entry], response.get("Messages", []))

    async def _show_dead_letters(self, receipts: list[str]) -> None:
        entries: list[Any] = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0} for i, r in enumerate(receipts)
        ]
        await self._call(
            lambda: self.client.change_message_visibility_batch(
                QueueUrl=self.dead_letter_url, Entries=entries
            ),
            "release dead letters",
        )

    async def _set_visibility(self, receipt: str, seconds: int) -> None:
        await self._call(
            lambda: self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            ),
            "change visibility",
        )

    async def _counts(self, url: str) -> tuple[int, int]:
        """(visible, not visible yet) for one queue."""
        response = await self._call(
            lambda: self.client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            ),
            "depth",
        )
        attributes = response.get("Attributes", {})
        hidden = int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")) + int(
            attributes.get("ApproximateNumberOfMessagesDelayed", "0")
        )
        return int(attributes.get("ApproximateNumberOfMessages", "0")), hidden

    async def _configure(self, max_receives: int) -> None:
        arn = await self._call(
            lambda: self.client.get_queue_attributes(
                QueueUrl=self.dead_letter_url, AttributeNames=["QueueArn"]
            ),
            "configure",
        )
        redrive = {"deadLetterTargetArn": arn["Attributes"]["QueueArn"], "maxReceiveCount": str(max_receives)}
        lease_seconds = _whole_seconds(self._visibility, at_most=_MAX_VISIBILITY_SECONDS)
        await self._call(
            lambda: self.client.set_queue_attributes(
                QueueUrl=self.url,
                Attributes={"VisibilityTimeout": str(lease_seconds), "RedrivePolicy": json.dumps(redrive)},
            ),
            "configure",
        )
        await self._call(
            lambda: self.client.set_queue_attributes(
                QueueUrl=self.dead_letter_url,
                Attributes={"MessageRetentionPeriod": str(_DEAD_LETTER_RETENTION_SECONDS)},
            ),
            "configure",
        )

    async def _call(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        return await call(operation, backoff=self._backoff, what=f"SQS {what}")

    # --- leases ---------------------------------------------------------------------------------

    def _release_after(self, receipt: str, seconds: float) -> None:
        lease = self._leases[receipt]
        lease.release = asyncio.get_running_loop().call_later(seconds, self._start_release, receipt)

    def _start_release(self, receipt: str) -> None:
        lease = self._leases.pop(receipt, None)
        if lease is None or time.monotonic() >= lease.sqs_expires_at:
            return  # SQS has ended this lease itself (this loop was busy): the message may be leased anew
        task = asyncio.create_task(self._release(receipt))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, receipt: str) -> None:
        # settled meanwhile (its handle is gone) or SQS unreachable: its whole-second timeout still ends it
        with contextlib.suppress(StoreError):
            await self._set_visibility(receipt, 0)

    def _forget(self, receipt: str) -> None:
        lease = self._leases.pop(receipt, None)
        if lease is not None and lease.release is not None:
            lease.release.cancel()

    def _prune(self, now: float) -> None:
        """Drop leases long expired: their receipts are stale, and the map must not grow."""
        stale = [r for r, lease in self._leases.items() if lease.expires_at + self._visibility < now]
        for receipt in stale:
            self._forget(receipt)


async def _queue_urls(
    client: SQSClient, settings: AwsSettings, *, create_missing: bool, backoff: Backoff
) -> tuple[str, str]:
    """The URLs of the fan-out queue and its dead-letter queue, created if missing and allowed."""

    async def url(name: str) -> str:
        if create_missing:  # returns the existing queue's URL when there is one
            created = await call(
                lambda: client.create_queue(QueueName=name), backoff=backoff, what="SQS create"
            )
            return created["QueueUrl"]
        try:
            found = await call(
                lambda: client.get_queue_url(QueueName=name), backoff=backoff, what="SQS lookup"
            )
        except PermanentStoreError as exc:
            if "NonExistentQueue" in error_code(exc) or error_code(exc) == "QueueDoesNotExist":
                raise PermanentStoreError(f"SQS queue {name!r} does not exist (run `murmur init`)") from exc
            raise
        return found["QueueUrl"]

    return await url(settings.fanout_queue), await url(settings.fanout_dead_letter_queue)
