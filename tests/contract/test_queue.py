"""Queue contract: at-least-once delivery, leases, dead letters, long polling and depth."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from contract_helpers import QueueConfig

from murmur.domain import PermanentStoreError
from murmur.storage.base import Outgoing, Queue, QueueDepth


async def send(queue: Queue, bodies: list[bytes]) -> None:
    await queue.send(messages=[Outgoing(body) for body in bodies])


async def receive_all(queue: Queue, n: int = 10) -> list[bytes]:
    return [m.body for m in await queue.receive(max_messages=n, wait_seconds=0)]


async def test_sent_messages_are_received_in_order_and_gone_once_acked(queue: Queue) -> None:
    await send(queue, [b"one", b"two", b"three"])

    messages = await queue.receive(max_messages=10, wait_seconds=0)
    assert [m.body for m in messages] == [b"one", b"two", b"three"]
    assert [m.receive_count for m in messages] == [1, 1, 1]
    assert len({m.receipt for m in messages}) == 3
    await queue.ack(receipts=[m.receipt for m in messages])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_receive_takes_at_most_max_messages(queue: Queue) -> None:
    await send(queue, [bytes([i]) for i in range(7)])

    assert len(await queue.receive(max_messages=3, wait_seconds=0)) == 3
    assert len(await queue.receive(max_messages=3, wait_seconds=0)) == 3
    assert len(await queue.receive(max_messages=3, wait_seconds=0)) == 1
    assert await queue.receive(max_messages=3, wait_seconds=0) == []


async def test_a_received_message_is_hidden_then_delivered_again(
    queue: Queue, queue_config: QueueConfig
) -> None:
    await send(queue, [b"work"])
    first = await queue.receive(max_messages=1, wait_seconds=0)
    assert await queue.receive(max_messages=1, wait_seconds=0) == []  # leased

    await asyncio.sleep(queue_config.visibility_timeout_seconds + 0.1)
    again = await queue.receive(max_messages=1, wait_seconds=0)
    assert [(m.body, m.receive_count) for m in again] == [(b"work", 2)]
    assert again[0].receipt != first[0].receipt


async def test_a_stale_receipt_cannot_settle_a_redelivered_message(
    queue: Queue, queue_config: QueueConfig
) -> None:
    """A receipt expires with its lease: once the message is received again, the old receipt
    changes nothing. The queue ignores it (SQLite) or refuses it (AWS: "The receipt handle has
    expired", as PermanentStoreError); it never acks, moves, copies or hides the message."""
    await send(queue, [b"work"])
    (stale,) = await queue.receive(max_messages=1, wait_seconds=0)
    await asyncio.sleep(queue_config.visibility_timeout_seconds + 0.1)
    (current,) = await queue.receive(max_messages=1, wait_seconds=0)

    settles = (
        lambda: queue.ack(receipts=[stale.receipt]),
        lambda: queue.dead_letter(receipts=[stale.receipt]),
        lambda: queue.retry_later(receipt=stale.receipt, delay_seconds=0),
        lambda: queue.extend(receipts=[stale.receipt], seconds=0),
    )
    for settle in settles:
        with contextlib.suppress(PermanentStoreError):
            await settle()
    await queue.release(receipts=[stale.receipt])  # nothing to hand back: not an error
    assert await queue.depth() == QueueDepth(visible=0, in_flight=1, dead=0)
    assert await queue.dead_letters(limit=10) == []
    await queue.ack(receipts=[current.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_acking_twice_is_harmless(queue: Queue) -> None:
    await send(queue, [b"a", b"b"])
    first, _ = await queue.receive(max_messages=2, wait_seconds=0)
    await queue.ack(receipts=[first.receipt])
    await queue.ack(receipts=[first.receipt])
    await queue.ack(receipts=[])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=1, dead=0)


async def test_retry_later_hides_a_message_for_the_delay(queue: Queue) -> None:
    await send(queue, [b"flaky"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.retry_later(receipt=message.receipt, delay_seconds=0.3)

    assert await queue.receive(max_messages=1, wait_seconds=0) == []
    await asyncio.sleep(0.4)
    again = await queue.receive(max_messages=1, wait_seconds=0)
    assert [(m.body, m.receive_count) for m in again] == [(b"flaky", 2)]


async def test_retry_now_makes_a_message_visible_at_once(queue: Queue) -> None:
    await send(queue, [b"flaky"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.retry_later(receipt=message.receipt, delay_seconds=0)

    assert await receive_all(queue) == [b"flaky"]


async def test_dead_letter_moves_messages_now(queue: Queue) -> None:
    await send(queue, [b"poison", b"fine"])
    poison, fine = await queue.receive(max_messages=2, wait_seconds=0)
    await queue.dead_letter(receipts=[poison.receipt])

    assert await queue.dead_letters(limit=10) == [b"poison"]
    assert await queue.depth() == QueueDepth(visible=0, in_flight=1, dead=1)
    await queue.ack(receipts=[fine.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=1)


async def test_a_message_goes_to_dead_letters_after_max_receives(
    queue: Queue, queue_config: QueueConfig
) -> None:
    await send(queue, [b"doomed"])
    counts = []
    for _ in range(queue_config.max_receives):
        (message,) = await queue.receive(max_messages=1, wait_seconds=0)
        counts.append(message.receive_count)
        await queue.retry_later(receipt=message.receipt, delay_seconds=0)

    assert counts == list(range(1, queue_config.max_receives + 1))
    assert await queue.receive(max_messages=1, wait_seconds=0) == []
    assert await queue.dead_letters(limit=10) == [b"doomed"]
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=1)


async def test_a_receipt_whose_lease_lapsed_cannot_settle_even_before_a_redelivery(
    queue: Queue, queue_config: QueueConfig
) -> None:
    """AWS expires a receipt with its lease, whether or not the message was received again:
    a worker whose heartbeat failed cannot ack, extend or hide a message others may take."""
    await send(queue, [b"work"])
    (lapsed,) = await queue.receive(max_messages=1, wait_seconds=0)
    await asyncio.sleep(queue_config.visibility_timeout_seconds + 0.1)
    settles = (
        lambda: queue.extend(receipts=[lapsed.receipt], seconds=60),
        lambda: queue.retry_later(receipt=lapsed.receipt, delay_seconds=60),
        lambda: queue.ack(receipts=[lapsed.receipt]),
        lambda: queue.dead_letter(receipts=[lapsed.receipt]),
    )
    for settle in settles:
        with contextlib.suppress(PermanentStoreError):
            await settle()
    assert await queue.depth() == QueueDepth(visible=1, in_flight=0, dead=0)
    (again,) = await queue.receive(max_messages=1, wait_seconds=0)
    assert again.receive_count == 2
    await queue.ack(receipts=[again.receipt])


async def test_an_expired_lease_counts_as_a_delivery(queue: Queue, queue_config: QueueConfig) -> None:
    # a worker that dies mid-task never settles its message: it comes back, until it is dead
    await send(queue, [b"crashes the worker"])
    for _ in range(queue_config.max_receives):
        assert len(await queue.receive(max_messages=1, wait_seconds=0)) == 1
        await asyncio.sleep(queue_config.visibility_timeout_seconds + 0.05)
    assert await queue.receive(max_messages=1, wait_seconds=0) == []
    assert await queue.dead_letters(limit=10) == [b"crashes the worker"]


async def test_depth_counts_visible_in_flight_and_dead(queue: Queue) -> None:
    await send(queue, [b"a", b"b", b"c", b"d"])
    assert await queue.depth() == QueueDepth(visible=4, in_flight=0, dead=0)
    a, b = await queue.receive(max_messages=2, wait_seconds=0)
    assert await queue.depth() == QueueDepth(visible=2, in_flight=2, dead=0)
    await queue.dead_letter(receipts=[a.receipt])
    await queue.ack(receipts=[b.receipt])
    assert await queue.depth() == QueueDepth(visible=2, in_flight=0, dead=1)


async def test_dead_letters_are_listed_oldest_first_up_to_the_limit(queue: Queue) -> None:
    await send(queue, [b"1", b"2", b"3"])
    messages = await queue.receive(max_messages=3, wait_seconds=0)
    await queue.dead_letter(receipts=[m.receipt for m in messages])
    assert await queue.dead_letters(limit=2) == [b"1", b"2"]


async def test_receive_long_polls_until_a_message_arrives(queue: Queue) -> None:
    waiting = asyncio.create_task(queue.receive(max_messages=5, wait_seconds=10))
    await asyncio.sleep(0.2)
    assert not waiting.done()

    sent_at = time.monotonic()
    await send(queue, [b"wake up"])
    messages = await asyncio.wait_for(waiting, timeout=5)
    assert [m.body for m in messages] == [b"wake up"]
    assert time.monotonic() - sent_at < 1.0


async def test_receive_long_polls_until_a_lease_runs_out(queue: Queue, queue_config: QueueConfig) -> None:
    await send(queue, [b"slow"])
    await queue.receive(max_messages=1, wait_seconds=0)

    started = time.monotonic()
    again = await queue.receive(max_messages=1, wait_seconds=queue_config.visibility_timeout_seconds + 5)
    assert [m.body for m in again] == [b"slow"]
    assert time.monotonic() - started < queue_config.visibility_timeout_seconds + 1.0


async def test_an_empty_long_poll_returns_nothing_after_the_wait(queue: Queue) -> None:
    started = time.monotonic()
    assert await queue.receive(max_messages=5, wait_seconds=0.3) == []
    assert 0.25 <= time.monotonic() - started < 2.0


async def test_concurrent_receivers_never_share_a_message(queue: Queue) -> None:
    receivers = [asyncio.create_task(queue.receive(max_messages=3, wait_seconds=2)) for _ in range(4)]
    await asyncio.sleep(0.1)
    await send(queue, [bytes([i]) for i in range(12)])
    got: list[bytes] = []
    for receiver in receivers:
        got.extend(m.body for m in await receiver)
    got.extend(await receive_all(queue, 12))
    assert sorted(got) == [bytes([i]) for i in range(12)]


async def test_a_malformed_receipt_is_refused(queue: Queue) -> None:
    with pytest.raises(PermanentStoreError):
        await queue.ack(receipts=["not a receipt"])


async def test_messages_carry_the_time_they_were_sent(queue: Queue) -> None:
    before = time.time()
    await send(queue, [b"timed"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    assert before - 1.0 <= message.sent_at <= time.time() + 1.0


async def test_a_dedup_key_drops_a_second_send_while_the_first_is_waiting(queue: Queue) -> None:
    await queue.send(
        messages=[Outgoing(b"chunk 1", dedup_key="post:1"), Outgoing(b"chunk 2", dedup_key="post:2")]
    )
    await queue.send(messages=[Outgoing(b"chunk 1 again", dedup_key="post:1"), Outgoing(b"no key")])
    await queue.send(messages=[Outgoing(b"no key")])

    assert sorted(await receive_all(queue)) == [b"chunk 1", b"chunk 2", b"no key", b"no key"]


async def test_a_dedup_key_drops_a_second_send_while_the_first_is_in_flight(queue: Queue) -> None:
    await queue.send(messages=[Outgoing(b"chunk", dedup_key="post:9:0")])
    (held,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.send(messages=[Outgoing(b"chunk", dedup_key="post:9:0")])

    assert await receive_all(queue) == []
    await queue.ack(receipts=[held.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_extend_keeps_a_message_hidden_past_its_lease(queue: Queue, queue_config: QueueConfig) -> None:
    await send(queue, [b"long work"])
    (message,) = await queue.receive(max_messages=1, wait_seconds=0)
    lease = queue_config.visibility_timeout_seconds
    for _ in range(3):
        await asyncio.sleep(lease / 2)
        await queue.extend(receipts=[message.receipt], seconds=lease + 1.0)
    assert await queue.receive(max_messages=1, wait_seconds=0) == []  # held 1.5 leases, still hidden

    await queue.ack(receipts=[message.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_release_hands_messages_back_at_once(queue: Queue) -> None:
    await send(queue, [b"started", b"not started", b"neither"])
    started, *unstarted = await queue.receive(max_messages=3, wait_seconds=0)
    await queue.release(receipts=[m.receipt for m in unstarted])

    again = await queue.receive(max_messages=3, wait_seconds=0)
    assert sorted(m.body for m in again) == [b"neither", b"not started"]
    await queue.ack(receipts=[started.receipt, *(m.receipt for m in again)])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_releasing_a_message_that_is_gone_is_not_an_error(queue: Queue) -> None:
    """A worker stopping releases what it holds; one it held may have been handled and acked
    meanwhile by a worker that took it after the lease ran out. Nothing to hand back then."""
    await send(queue, [b"done elsewhere", b"still ours"])
    gone, ours = await queue.receive(max_messages=2, wait_seconds=0)
    await queue.ack(receipts=[gone.receipt])
    await queue.release(receipts=[gone.receipt, ours.receipt])
    (again,) = await queue.receive(max_messages=2, wait_seconds=0)
    assert again.body == ours.body
    await queue.ack(receipts=[again.receipt])
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_a_dedup_key_is_remembered_after_its_message_is_acknowledged(queue: Queue) -> None:
    """SQS FIFO keeps a deduplication id 5 minutes from its first send, whatever became of the
    message: a chunk sent again just after it was handled is dropped, not handled twice."""
    await queue.send(messages=[Outgoing(b"chunk", dedup_key="post:7:0")])
    (held,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.ack(receipts=[held.receipt])

    await queue.send(messages=[Outgoing(b"chunk again", dedup_key="post:7:0")])
    assert await receive_all(queue) == []
    assert await queue.depth() == QueueDepth(visible=0, in_flight=0, dead=0)


async def test_a_dedup_key_is_remembered_after_its_message_is_dead_lettered(queue: Queue) -> None:
    await queue.send(messages=[Outgoing(b"poison", dedup_key="post:8:0")])
    (held,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.dead_letter(receipts=[held.receipt])

    await queue.send(messages=[Outgoing(b"poison again", dedup_key="post:8:0")])
    assert await receive_all(queue) == []
    assert await queue.dead_letters(limit=10) == [b"poison"]


async def test_a_dedup_key_is_accepted_again_after_the_window(
    queue: Queue, queue_config: QueueConfig
) -> None:
    """The window runs from the first send: a resend inside it does not renew it."""
    await queue.send(messages=[Outgoing(b"first", dedup_key="post:9:0")])
    (held,) = await queue.receive(max_messages=1, wait_seconds=0)
    await queue.ack(receipts=[held.receipt])
    queue_config.clock.advance(200)
    await queue.send(messages=[Outgoing(b"inside the window", dedup_key="post:9:0")])
    assert await receive_all(queue) == []

    queue_config.clock.advance(101)  # 301 s after the first send, 101 s after the dropped one
    await queue.send(messages=[Outgoing(b"after the window", dedup_key="post:9:0")])
    assert await receive_all(queue) == [b"after the window"]
