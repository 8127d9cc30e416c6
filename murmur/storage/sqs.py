"""One lane of the fan-out queue on SQS: a FIFO queue, and a FIFO dead-letter queue it redrives
into (one dead-letter queue may serve both lanes: two SqsQueues, each opened with its lane's
queue name, sharing it; then either one's dead_letters and depth().dead show both lanes').

- FIFO for its deduplication: a message sent with a dedup_key goes out with that key as its
  MessageDeduplicationId, so a second send with it is dropped. Every message is a message group
  of its own (MessageGroupId = the dedup key, or a fresh uuid, with a fresh uuid as its
  deduplication id too): FIFO holds back a group's later messages while one is in flight, and
  here no message should ever wait for another. Queues are created with FifoQueue=true and set
  to high throughput (DeduplicationScope=messageGroup, FifoThroughputLimit=perMessageGroupId),
  which with one key per group deduplicates exactly as queue-wide scope would.
- Deduplication on AWS: a key is remembered 5 minutes from its first send, whatever happened to
  the message since (acked or not). So a resend within 5 minutes is dropped even after the
  first was acked, and one after 5 minutes is accepted even while the first still waits, which
  is the Queue contract. moto drops a duplicate only while the first is still in the queue
  (waiting or in flight) and was sent under 300 s before; an acked or dead-lettered message's
  key is free again at once (the contract suite's layer remembers it, as AWS does).
- A send retried after a lost answer reuses its deduplication ids, so it is not duplicated;
  a receive retried after a lost answer reuses its ReceiveRequestAttemptId, so AWS returns the
  same messages instead of hiding them for a lease (moto ignores the attempt id).
- Order: FIFO keeps order within a group only; with a group per message, messages come roughly,
  not strictly, in the order sent (moto keeps it exactly).
- Receipts are SQS receipt handles; receive_count is ApproximateReceiveCount, sent_at is
  SentTimestamp. After max_receives deliveries SQS itself moves a message to the dead-letter
  queue (the redrive policy's maxReceiveCount), on the receive that would be one too many.
  SQS takes 1..1000; below 3, a worker restart or two (leases running out, or releases: see
  below) is enough to dead-letter a healthy message, so 3 or more is sensible (default 5).
- Stale receipts: AWS refuses an expired receipt handle of a FIFO message ("The receipt handle
  has expired": InvalidParameterValue, or ReceiptHandleIsInvalid in a batch), for delete and
  visibility changes alike; this class raises that as PermanentStoreError (release ignores it).
  moto accepts every receipt handle a message was ever given; the contract suite runs over moto
  behind a layer that refuses them as AWS does (tests/contract/backends/aws_semantics.py).
- Retention: both lanes and the dead-letter queue keep messages 14 days (SQS's longest; the
  default, 4 days, could let a starved chunk expire unseen).
- The age of the oldest message is not a queue attribute on SQS (CloudWatch's
  ApproximateAgeOfOldestMessage, per queue); oldest_age answers None and dashboards read it there.
- Bodies are bytes (protobuf); SQS bodies are text, so they travel base64-encoded.
- Long polling: WaitTimeSeconds is whole seconds, at most 20, so a wait is rounded up and
  a longer one is several polls. Up to 10 messages a call; more are several calls.
- SQS counts visibility timeouts in whole seconds. A fractional lease (the visibility timeout,
  a retry delay, an extension) is honoured by this process: SQS is asked for the seconds rounded
  up, and the message is made visible again (visibility 0) at the exact time. If the process dies
  first, SQS's rounded-up timeout still ends it. A visibility change on FIFO works as on a
  standard queue; AWS refuses to hide a message for more than 12 h after its receive (moto:
  after its send).
- extend is ChangeMessageVisibilityBatch to `seconds` from now; release is the same to 0.
  SQS cannot take back a receive: a released message keeps the receive it was handed out with,
  so it comes back with receive_count one higher and one receive closer to the dead letters
  (SQLite's queue undoes the count).
- A batch call's entries that fail on SQS's side are resent; entries SQS refuses (the sender's
  fault: a bad receipt handle) are raised as PermanentStoreError once the rest of the batch is done.
- dead_letter first renews the lease (a visibility change, which AWS refuses for an expired
  receipt: a message whose lease ran out, maybe leased again elsewhere, gets no copy in the
  dead letters), then sends the body to the dead-letter queue (its group and deduplication id
  the message's SQS MessageId, so a resend is dropped and two dead messages sharing a dedup key
  are both kept), then deletes the message: a crash between the two leaves a copy in both (at
  least once), never none. The body comes from the receive that issued the receipt, so only
  receipts of this process can be dead-lettered. A message SQS itself redrives keeps its group
  and deduplication id; moto deduplicates a redrive like a send, so it drops a redriven message
  whose key a dead letter still there carries, if sent under 300 s before it.
- dead_letters peeks: it receives from the dead-letter queue, then makes what it saw
  visible again.
- moto (5.2) and FIFO long polls: a ReceiveMessage notes the message groups in flight when it
  begins, and skips their messages until it ends even if a visibility change (release,
  retry_later, a fractional lease's end) has made them visible meanwhile; it also spins a CPU
  while it skips. So on moto such a message waits for the next poll (up to 20 s later). receive
  cuts its long polls at this process's own fractional lease ends (see _poll_seconds); a release
  by another process is seen on the next poll. AWS delivers it at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from murmur.domain import PermanentStoreError, StoreError
from murmur.settings import AwsSettings
from murmur.storage.aws import Backoff, call, chunks, drain, error_code, open_client
from murmur.storage.base import Outgoing, QueueDepth, QueueMessage
from murmur.storage.counting import counted

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

T = TypeVar("T")
Entry = dict[str, Any]
BatchCall = Callable[[list[Any]], Awaitable[Any]]

_BATCH = 10  # SQS's most messages per call
_MAX_WAIT_SECONDS = 20
_MAX_VISIBILITY_SECONDS = 43_200
# what SQS answers a visibility change of a message no longer held: deleted, or the receipt expired
_NOT_OURS = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight", "InvalidParameterValue"})
_PEEK_SECONDS = 5  # how long dead_letters hides what it reads before putting it back
_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's longest, on every queue (the default is 4 days)
# high-throughput FIFO: deduplication and throughput limits per message group, not per queue
_FIFO_THROUGHPUT: dict[QueueAttributeNameType, str] = {
    "DeduplicationScope": "messageGroup",
    "FifoThroughputLimit": "perMessageGroupId",
}
# what SQS takes as a MessageGroupId or MessageDeduplicationId: 1..128 of these characters
_SQS_ID = re.compile(r"[!-~]{1,128}")


@dataclass
class _Lease:
    """What this process knows about a message it received: its body and SQS message id (for
    dead-lettering) and the timer that ends a fractional lease early."""

    body: str | None  # None once the message is no longer ours to dead-letter (retried)
    message_id: str
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


def _sqs_id(key: str) -> str:
    """A dedup key as SQS takes it: itself when it is a valid id, else a digest of it."""
    if _SQS_ID.fullmatch(key):
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _send_entry(message: Outgoing) -> Entry:
    # each message its own group, so none waits behind another one in flight
    key = _sqs_id(message.dedup_key) if message.dedup_key is not None else uuid.uuid4().hex
    return {"MessageBody": _encode(message.body), "MessageGroupId": key, "MessageDeduplicationId": key}


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
        queue_name: str,
        visibility_timeout_seconds: float,
        max_receives: int,
        create_missing: bool,
        backoff: Backoff | None = None,
    ) -> SqsQueue:
        """Connect to one lane's queue (queue_name) and the dead-letter queue of settings; with
        create_missing, create both and (re)set the redrive policy, visibility timeout and
        throughput mode, idempotently."""
        if not queue_name.endswith(".fifo"):
            raise ValueError(f"SQS queue {queue_name!r}: the fan-out queues are FIFO queues (.fifo)")
        if not 0 < visibility_timeout_seconds <= _MAX_VISIBILITY_SECONDS:
            raise ValueError(f"an SQS visibility timeout is over 0 and at most {_MAX_VISIBILITY_SECONDS} s")
        if not 1 <= max_receives <= 1000:
            raise ValueError("SQS's maxReceiveCount is 1..1000")
        stack = AsyncExitStack()
        try:
            client = await open_client("sqs", settings, stack, pool=16)
            backoff = backoff or Backoff()
            url = await _queue_url(client, queue_name, create_missing=create_missing, backoff=backoff)
            dead_letter_url = await _queue_url(
                client, settings.fanout_dead_letter_queue, create_missing=create_missing, backoff=backoff
            )
            queue = cls(
                client=client,
                url=url,
                dead_letter_url=dead_letter_url,
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

    async def send(self, *, messages: Sequence[Outgoing]) -> None:
        # ids are drawn once, so a batch resent after a lost answer is deduplicated, not doubled;
        # one batch after another, so messages sent together arrive in order as far as SQS keeps it
        await self._batch("send", self._sender(self.url), [_send_entry(m) for m in messages])

    async def receive(self, *, max_messages: int, wait_seconds: float) -> list[QueueMessage]:
        deadline = time.monotonic() + wait_seconds
        messages: list[QueueMessage] = []
        while len(messages) < max_messages:
            remaining = deadline - time.monotonic()
            # long-poll only while nothing has come; once something has, take what is there now
            wait = 0 if messages else self._poll_seconds(remaining)
            wanted = min(_BATCH, max_messages - len(messages))
            batch = await self._receive_batch(wanted, wait)
            messages.extend(batch)
            if len(batch) < wanted and (messages or time.monotonic() >= deadline):
                break
        return messages

    async def extend(self, *, receipts: Sequence[str], seconds: float) -> None:
        receipts = list(dict.fromkeys(receipts))
        seconds = min(max(0.0, seconds), _MAX_VISIBILITY_SECONDS)
        whole = _whole_seconds(seconds, at_most=_MAX_VISIBILITY_SECONDS)
        await self._change_visibility(receipts, whole, "extend")
        now = time.monotonic()
        for receipt in receipts:
            lease = self._leases.get(receipt)
            if lease is None:
                continue  # not received here (or its lease ended): SQS's whole seconds alone
            if lease.release is not None:
                lease.release.cancel()
                lease.release = None
            lease.expires_at, lease.sqs_expires_at = now + seconds, now + whole
            if seconds < whole:
                self._release_after(receipt, seconds)

    async def release(self, *, receipts: Sequence[str]) -> None:
        receipts = list(dict.fromkeys(receipts))
        for receipt in receipts:
            self._forget(receipt)
        # SQS keeps the receive count: a released message is one receive nearer the dead letters.
        # A message that is no longer ours (acked by a worker that took it after our lease ran
        # out, or its receipt expired) has nothing to hand back: that is not a failure.
        await self._change_visibility(receipts, 0, "release", not_ours_is_fine=True)

    async def ack(self, *, receipts: Sequence[str]) -> None:
        await self._delete(list(dict.fromkeys(receipts)))

    async def retry_later(self, *, receipt: str, delay_seconds: float) -> None:
        self._forget(receipt)
        delay = min(max(0.0, delay_seconds), _MAX_VISIBILITY_SECONDS)
        await self._set_visibility(receipt, _whole_seconds(delay, at_most=_MAX_VISIBILITY_SECONDS))
        if 0 < delay < math.ceil(delay):
            now = time.monotonic()
            self._leases[receipt] = _Lease(
                body=None, message_id="", expires_at=now + delay, sqs_expires_at=now + math.ceil(delay)
            )
            self._release_after(receipt, delay)

    async def dead_letter(self, *, receipts: Sequence[str]) -> None:
        receipts = list(dict.fromkeys(receipts))
        entries = []
        for receipt in receipts:
            lease = self._leases.get(receipt)
            if lease is None or lease.body is None:
                raise PermanentStoreError(f"not a receipt of a message this process holds: {receipt!r}")
            # the message id as group and deduplication id: a resend is dropped, and a dedup key
            # dead-lettered twice (two messages) is kept twice
            entries.append(
                {
                    "MessageBody": lease.body,
                    "MessageGroupId": lease.message_id,
                    "MessageDeduplicationId": lease.message_id,
                }
            )
        for receipt in receipts:  # no early release of a fractional lease from here on
            self._forget(receipt)
        # refused (PermanentStoreError) for a receipt whose lease ran out: then no copy is made,
        # and the message stays with whoever holds it now; else it is surely ours for a lease
        lease_seconds = _whole_seconds(self._visibility, at_most=_MAX_VISIBILITY_SECONDS)
        await self._change_visibility(receipts, lease_seconds, "dead-letter")
        await self._batch("dead-letter", self._sender(self.dead_letter_url), entries)
        await self._delete(receipts)

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

    async def oldest_age(self) -> float | None:
        return None  # CloudWatch's ApproximateAgeOfOldestMessage: not readable from the queue

    def _poll_seconds(self, remaining: float) -> int:
        """How long the next long poll may wait: the time left, but no later than (the whole
        second after) this process next ends a fractional lease early. For moto: a FIFO long poll
        there does not see a message that a visibility change made visible after it began (AWS
        does); cutting the poll lets the next one see it, at the cost of one more call."""
        wait = _whole_seconds(remaining, at_most=_MAX_WAIT_SECONDS)
        releases = [lease.expires_at for lease in self._leases.values() if lease.release is not None]
        if releases and wait > 0:
            wait = min(wait, max(1, math.ceil(min(releases) - time.monotonic())))
        return wait

    # --- calls ----------------------------------------------------------------------------------

    async def _receive_batch(self, wanted: int, wait: int) -> list[QueueMessage]:
        lease_seconds = _whole_seconds(self._visibility, at_most=_MAX_VISIBILITY_SECONDS)
        attempt = uuid.uuid4().hex  # the same on every retry of this receive: AWS answers it again
        response = await self._call(
            lambda: self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=wait,
                VisibilityTimeout=lease_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                ReceiveRequestAttemptId=attempt,
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
                message_id=message["MessageId"],
                expires_at=received_at + self._visibility,
                sqs_expires_at=received_at + lease_seconds,
            )
            if self._visibility < lease_seconds:
                self._release_after(receipt, self._visibility)
            attributes = message.get("Attributes", {})
            messages.append(
                QueueMessage(
                    receipt=receipt,
                    body=_decode(body),
                    receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
                    sent_at=int(attributes.get("SentTimestamp", "0")) / 1000,
                )
            )
        return messages

    def _sender(self, url: str) -> BatchCall:
        return lambda entries: self.client.send_message_batch(QueueUrl=url, Entries=entries)

    async def _delete(self, receipts: list[str]) -> None:
        for receipt in receipts:
            self._forget(receipt)
        entries = [{"ReceiptHandle": receipt} for receipt in receipts]
        await self._batch(
            "delete",
            lambda batch: self.client.delete_message_batch(QueueUrl=self.url, Entries=batch),
            entries,
        )

    async def _change_visibility(
        self, receipts: list[str], seconds: int, what: str, *, not_ours_is_fine: bool = False
    ) -> None:
        entries = [{"ReceiptHandle": receipt, "VisibilityTimeout": seconds} for receipt in receipts]
        await self._batch(
            what,
            lambda batch: self.client.change_message_visibility_batch(QueueUrl=self.url, Entries=batch),
            entries,
            tolerated=_NOT_OURS if not_ours_is_fine else frozenset(),
        )

    async def _batch(
        self,
        what: str,
        batch_call: BatchCall,
        entries: Sequence[Entry],
        *,
        tolerated: frozenset[str] = frozenset(),
    ) -> None:
        """Run a batch operation over entries, 10 a call, one call after another; resend the
        entries that failed on SQS's side. Entries SQS refuses (the sender's fault: a bad receipt
        handle, a body too large) cannot succeed when resent: they are raised after the rest."""
        refused: list[Entry] = []

        async def attempt(pending: list[tuple[int, Entry]]) -> list[tuple[int, Entry]]:
            request = [{"Id": str(i), **entry} for i, entry in pending]
            response = await self._call(lambda: batch_call(request), what)
            failed = {str(f["Id"]): f for f in response.get("Failed", [])}
            refused.extend(
                f for f in failed.values() if f.get("SenderFault") and f.get("Code") not in tolerated
            )
            return [(i, e) for i, e in pending if str(i) in failed and not failed[str(i)].get("SenderFault")]

        for chunk in chunks(entries, _BATCH):
            await drain(attempt, list(enumerate(chunk)), backoff=self._backoff, what=f"SQS {what}")
        if refused:
            first = refused[0]
            raise PermanentStoreError(
                f"SQS {what}: {len(refused)} refused, e.g. {first.get('Code')}: {first.get('Message')}"
            )

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
        # set here, not at creation: CreateQueue refuses an existing queue whose attributes differ,
        # while these may change on a live queue (an older queue is brought up to date)
        await self._call(
            lambda: self.client.set_queue_attributes(
                QueueUrl=self.url,
                Attributes={
                    "VisibilityTimeout": str(lease_seconds),
                    "MessageRetentionPeriod": str(_RETENTION_SECONDS),
                    "RedrivePolicy": json.dumps(redrive),
                    **_FIFO_THROUGHPUT,
                },
            ),
            "configure",
        )
        await self._call(
            lambda: self.client.set_queue_attributes(
                QueueUrl=self.dead_letter_url,
                Attributes={
                    "MessageRetentionPeriod": str(_RETENTION_SECONDS),
                    **_FIFO_THROUGHPUT,
                },
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


async def _queue_url(client: SQSClient, name: str, *, create_missing: bool, backoff: Backoff) -> str:
    """The URL of a FIFO queue, created if missing and allowed."""
    if create_missing:  # returns the existing queue's URL when there is one
        created = await call(
            lambda: client.create_queue(QueueName=name, Attributes={"FifoQueue": "true"}),
            backoff=backoff,
            what="SQS create",
        )
        return created["QueueUrl"]
    try:
        found = await call(lambda: client.get_queue_url(QueueName=name), backoff=backoff, what="SQS lookup")
    except PermanentStoreError as exc:
        if "NonExistentQueue" in error_code(exc) or error_code(exc) == "QueueDoesNotExist":
            raise PermanentStoreError(f"SQS queue {name!r} does not exist (run `murmur init`)") from exc
        raise
    return found["QueueUrl"]
