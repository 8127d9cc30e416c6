"""One fan-out consumer: receive a batch, handle each message, settle it.

Settling splits failures the way the queue needs: a message that cannot be
decoded, or a permanent store error, goes to the dead-letter queue at once;
anything else is retried with exponential backoff, and the queue dead-letters
it after `max_receives` deliveries. A consumer killed mid-batch loses nothing:
unacknowledged messages reappear after the visibility timeout, and handlers
are idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from murmur.domain import PermanentStoreError
from murmur.events.codec import UndecodableMessage
from murmur.metrics import QUEUE_MESSAGES
from murmur.platform import Platform
from murmur.storage.base import QueueMessage

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0


def backoff_seconds(receive_count: int) -> float:
    """1 s after the first failure, doubling, at most a minute."""
    return min(MAX_BACKOFF_SECONDS, 2.0 ** (receive_count - 1))


class Consumer:
    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._queue = platform.backends.queue
        self._settings = platform.settings.workers

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once(wait_seconds=self._settings.wait_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                # the queue itself failed: don't spin; the messages are still safe in it
                log.exception("receiving from the fan-out queue failed")
                await asyncio.sleep(1.0)

    async def poll_once(self, *, wait_seconds: float) -> int:
        """Receive and settle one batch; return how many messages it held."""
        messages = await self._queue.receive(
            max_messages=self._settings.batch_size, wait_seconds=wait_seconds
        )
        for message in messages:
            await self.settle(message)
        return len(messages)

    async def settle(self, message: QueueMessage) -> None:
        try:
            await self._platform.fanout.handle(message.body)
        except (UndecodableMessage, PermanentStoreError) as error:
            log.error("dead-lettering a fan-out message: %s", error)
            await self._queue.dead_letter(receipts=[message.receipt])
            QUEUE_MESSAGES.labels("dead_lettered").inc()
        except Exception:
            log.warning(
                "fan-out message failed (delivery %d); retrying", message.receive_count, exc_info=True
            )
            await self._queue.retry_later(
                receipt=message.receipt, delay_seconds=backoff_seconds(message.receive_count)
            )
            QUEUE_MESSAGES.labels("retried").inc()
        else:
            await self._queue.ack(receipts=[message.receipt])
            QUEUE_MESSAGES.labels("done").inc()
