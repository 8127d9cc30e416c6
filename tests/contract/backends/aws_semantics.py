"""An SQS client on moto that keeps AWS's FIFO rules where moto is kinder, so the queue contract
runs against what AWS does, not against moto's leniency.

Where moto differs (moto 5.x; AWS as documented and observed):

- Deduplication: AWS remembers a MessageDeduplicationId for 5 minutes from its first send,
  whatever became of that message; moto forgets it as soon as the message is deleted or
  dead-lettered. Here a send whose (queue, group, deduplication id) was sent successfully
  within the window is dropped and answered as a success, as AWS does (the queues use
  DeduplicationScope=messageGroup). Within the window moto's own check agrees; after it, moto
  still drops a duplicate whose first message is in the queue and under 300 real seconds old
  (AWS accepts it), so tests cross the window only for keys whose message is gone.
- Receipt handles: AWS refuses a FIFO receipt handle once its lease has run out ("The receipt
  handle has expired"), and so any handle but a message's latest; moto accepts every handle a
  message was ever given. Here DeleteMessage(Batch) and ChangeMessageVisibility(Batch) with such
  a handle are refused: InvalidParameterValue for a single call, a sender-fault
  ReceiptHandleIsInvalid entry in a batch. A lease is timed from when the receive (or the
  visibility change) was asked for, so this layer is never kinder than moto's own clock.

Everything else goes to moto untouched (the methods it does not override pass through).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

DEDUP_WINDOW_SECONDS = 300.0
_EXPIRED = "The receipt handle has expired."


@dataclass
class _Delivery:
    url: str
    message_id: str
    expires_at: float  # time.monotonic(): moto's leases run on real time


class AwsFifoSemantics:
    """Wraps an aiobotocore SQS client (moto's); `clock` (unix seconds) times the dedup window
    only, so a test can cross it without waiting."""

    def __init__(
        self,
        client: Any,
        *,
        clock: Callable[[], float] = time.time,
        dedup_window_seconds: float = DEDUP_WINDOW_SECONDS,
    ) -> None:
        self._client = client
        self._clock = clock
        self._window = dedup_window_seconds
        self._first_sent: dict[tuple[str, str, str], float] = {}
        self._deliveries: dict[str, _Delivery] = {}  # receipt handle -> the delivery it names
        self._latest: dict[tuple[str, str], str] = {}  # (queue url, message id) -> latest handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    # --- deduplication ----------------------------------------------------------------------

    async def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]], **kw: Any) -> Any:
        now = self._clock()
        self._first_sent = {k: t for k, t in self._first_sent.items() if now - t < self._window}
        forward, dropped, keys = [], [], {}
        for entry in Entries:
            key = (QueueUrl, entry.get("MessageGroupId", ""), entry.get("MessageDeduplicationId", ""))
            if key in self._first_sent or key in keys.values():
                dropped.append({"Id": entry["Id"], "MessageId": f"deduplicated-{entry['Id']}"})
            else:
                keys[entry["Id"]] = key
                forward.append(entry)
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if forward:
            response = dict(await self._client.send_message_batch(QueueUrl=QueueUrl, Entries=forward, **kw))
        for sent in response.get("Successful", []):
            self._first_sent.setdefault(keys[sent["Id"]], now)
        response["Successful"] = [*response.get("Successful", []), *dropped]
        return response

    # --- receipt handles --------------------------------------------------------------------

    async def receive_message(self, **kw: Any) -> Any:
        asked_at = time.monotonic()
        response = await self._client.receive_message(**kw)
        lease = kw.get("VisibilityTimeout")
        for message in response.get("Messages", []):
            receipt = message["ReceiptHandle"]
            expires_at = asked_at + lease if lease is not None else float("inf")
            self._deliveries[receipt] = _Delivery(kw["QueueUrl"], message["MessageId"], expires_at)
            self._latest[(kw["QueueUrl"], message["MessageId"])] = receipt
        return response

    def _expired(self, receipt: str) -> bool:
        delivery = self._deliveries.get(receipt)
        if delivery is None:
            return False  # not received through this layer: moto judges it
        latest = self._latest.get((delivery.url, delivery.message_id))
        return latest != receipt or time.monotonic() >= delivery.expires_at

    def _leased(self, receipt: str, seconds: float, asked_at: float) -> None:
        delivery = self._deliveries.get(receipt)
        if delivery is not None:
            delivery.expires_at = asked_at + seconds

    async def _batch(self, operation: str, QueueUrl: str, Entries: list[dict[str, Any]], **kw: Any) -> Any:
        asked_at = time.monotonic()
        refused = [
            {"Id": e["Id"], "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": _EXPIRED}
            for e in Entries
            if self._expired(e["ReceiptHandle"])
        ]
        refused_ids = {f["Id"] for f in refused}
        forward = [e for e in Entries if e["Id"] not in refused_ids]
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if forward:
            call = getattr(self._client, operation)
            response = dict(await call(QueueUrl=QueueUrl, Entries=forward, **kw))
        if operation == "change_message_visibility_batch":
            done = {s["Id"] for s in response.get("Successful", [])}
            for entry in forward:
                if entry["Id"] in done:
                    self._leased(entry["ReceiptHandle"], entry["VisibilityTimeout"], asked_at)
        response["Failed"] = [*response.get("Failed", []), *refused]
        return response

    async def delete_message_batch(self, **kw: Any) -> Any:
        return await self._batch("delete_message_batch", **kw)

    async def change_message_visibility_batch(self, **kw: Any) -> Any:
        return await self._batch("change_message_visibility_batch", **kw)

    def _refuse(self, operation: str, receipt: str) -> None:
        if self._expired(receipt):
            message = f"Value {receipt} for parameter ReceiptHandle is invalid. Reason: {_EXPIRED}"
            error = {"Code": "InvalidParameterValue", "Message": message}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)

    async def delete_message(self, **kw: Any) -> Any:
        self._refuse("DeleteMessage", kw["ReceiptHandle"])
        return await self._client.delete_message(**kw)

    async def change_message_visibility(self, **kw: Any) -> Any:
        asked_at = time.monotonic()
        self._refuse("ChangeMessageVisibility", kw["ReceiptHandle"])
        response = await self._client.change_message_visibility(**kw)
        self._leased(kw["ReceiptHandle"], kw["VisibilityTimeout"], asked_at)
        return response
