"""Queue contract: at-least-once delivery, leases, dead letters, long polling and depth.

Timing: most tests hold their messages under a lease no test outlives (LONG_LEASE); those
that wait for a lease to run out use SHORT_LEASE and poll for the evidence (the message back,
the depth changed) instead of sleeping a fixed time. A check that a message is still hidden
is demanded only while its lease provably runs (polling.Window): on a machine too slow to
make the check inside the lease, the test asks for what holds either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest
from contract_helpers import QueueConfig

from murmur.domain import PermanentStoreError
from murmur.storage.base import Outgoing, Queue, QueueDepth, QueueMessage
from tests.support.polling import Window, until

SHORT_LEASE = 0.5  # the tests that wait for a lease to run out
LONG_LEASE = 60.0  # the others: their work never outlives it, however loaded the machine


@pytest.fixture
def queue_config(request: pytest.FixtureRequest) -> QueueConfig:
    """The contract conftest's knob, for this module: LONG_LEASE unless a test asks for
    another with `short_lease`."""
    return QueueConfig(visibility_timeout_seconds=getattr(request, "param", LONG_LEASE))


short_lease = pytest.mark.parametrize("queue_config", [SHORT_LEASE], indirect=True, ids=["short-lease"])


async def send(queue: Queue, bodies: list[bytes]) -> None:
    await queue.send(messages=[Outgoing(body) for body in bodies])


async def receive_all(queue: Queue, n: int = 10) -> list[bytes]:
    return [m.body for m in await queue.receive(max_messages=n, wait_seconds=0)]


async def receive_one(queue: Queue) -> list[QueueMessage]:
    return await queue.receive(max_messages=1, wait_seconds=0)


async def redelivered(queue: Queue) -> tuple[QueueMessage, Window]:
    """The message once its lease (or delay) has run out and it is received again, with the
    window of its new lease."""

    async def attempt() -> tuple[list[QueueMessage], Window]:
        lease = Window(SHORT_LEASE)  # before the call: the lease it hands out starts later
        return await receive_one(queue), lease

    (message,), lease = await until(attempt, lambda got: got[0], what="the message delivered again")
    return message, lease


async def settled_inside(lease: Window, settle: Callable[[], Awaitable[None]]) -> bool:
    """Runs settle() with a receipt; True if it provably ran inside `lease`. A refusal (AWS
    refuses an expired receipt) is fine only when the lease may have run out first."""
    try:
        await settle()
    except PermanentStoreError:
        assert not lease.open(), "a receipt was refused inside its lease"
        return False
    return lease.open()


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


@short_lease
async def test_a_received_message_is_hidden_then_delivered_again(queue: Queue) -> None:
    await send(queue, [b"work"])
    lease = Window(SHORT_LEASE)
    (first,) = await receive_one(queue)
    early = await receive_one(queue)
    assert early == [] or not lease.open(), "delivered again inside its lease"

    again = early[0] if early else (await redelivered(queue))[0]
    assert (again.body, again.receive_count) == (b"work", 2)
    assert again.receipt != first.receipt


@short_lease
async def test_a_stale_receipt_cannot_settle_a_redelivered_message(queue: Queue) -> None:
    """A receipt expires with its lease: once the message is received again, the old receipt
    changes nothing. The queue ignores it (SQLite) or refuses it (AWS: "The receipt handle has
    expired", as PermanentStoreError); it never acks, moves, copies or hides the message."""
    await send(queue, [b"work"])
    (stale,) = await receive_one(queue)
    current, lease = await redelivered(queue)

    settles: tuple[Callable[[], Awaitable[None]], ...] = (
        lambda: queue.ack(receipts=[stale.receipt]),
        lambda: queue.dead_letter(receipts=[stale.receipt]),
        lambda: queue.retry_later(receipt=stale.receipt, delay_seconds=0),
        lambda: queue.extend(receipts=[stale.receipt], seconds=0),
    )
    for settle in settles:
        with contextlib.suppress(PermanentStoreError):
            await settle()
    await queue.release(receipts=[stale.receipt])  # nothing to hand back: not an error
    depth = await queue.depth()
    if lease.open():  # `current` still holds it: nothing the stale receipt did may free it
        assert depth == QueueDepth(visible=0, in_flight=1, dead=0)
    else:  # its lease ran out too: whether it is hidden or not, it is still there, once
        assert (depth.visible + depth.in_flight, depth.dead) == (1, 0)
    assert await queue.dead_letters(limit=10) == []
    # the current receipt still settles it
    if await settled_inside(lease, lambda: queue.ack(receipts=[current.receipt])):
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
    (message,) = await receive_one(queue)
    delay = Window(0.3)
    await queue.retry_later(receipt=message.receipt, delay_seconds=0.3)

    early = await receive_one(queue)
    assert early == [] or not delay.open(), "delivered again inside its delay"
    again = early[0] if early else (await redelivered(queue))[0]
    assert (again.body, again.receive_count) == (b"flaky", 2)


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


@short_lease
async def test_a_receipt_whose_lease_lapsed_cannot_settle_even_before_a_redelivery(queue: Queue) -> None:
    """AWS expires a receipt with its lease, whether or not the message was received again:
    a worker whose heartbeat failed cannot ack, extend or hide a message others may take."""
    await send(queue, [b"work"])
    (lapsed,) = await receive_one(queue)
    await until(
        queue.depth,
        lambda depth: depth == QueueDepth(visible=1, in_flight=0, dead=0),
        what="the lease to lapse",
    )
    settles: tuple[Callable[[], Awaitable[None]], ...] = (
        lambda: queue.extend(receipts=[lapsed.receipt], seconds=60),
        lambda: queue.retry_later(receipt=lapsed.receipt, delay_seconds=60),
        lambda: queue.ack(receipts=[lapsed.receipt]),
        lambda: queue.dead_letter(receipts=[lapsed.receipt]),
    )
    for settle in settles:
        with contextlib.suppress(PermanentStoreError):
            await settle()
    assert await queue.depth() == QueueDepth(visible=1, in_flight=0, dead=0)
    (again,) = await receive_one(queue)
    assert again.receive_count == 2


@short_lease
async def test_an_expired_lease_counts_as_a_delivery(queue: Queue, queue_config: QueueConfig) -> None:
    # a worker that dies mid-task never settles its message: it comes back, until it is dead
    await send(queue, [b"crashes the worker"])
    (first,) = await receive_one(queue)
    counts = [first.receive_count]
    while len(counts) < queue_config.max_receives:
        counts.append((await redelivered(queue))[0].receive_count)
    assert counts == list(range(1, queue_config.max_receives + 1))

    async def dead_letters_after_one_more_receive() -> list[bytes]:
        assert await receive_all(queue) == [], "delivered more than max_receives times"
        return await queue.dead_letters(limit=10)

    await until(
        dead_letters_after_one_more_receive,
        lambda dead: dead == [b"crashes the worker"],
        what="the message dead once its last lease ran out",
    )


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
    waiting = asyncio.create_task(queue.receive(max_messages=5, wait_seconds=20))
    # Real time passes: an empty receive answers in milliseconds, a 20 s long poll is still
    # waiting after 0.2 s (were the send earlier, the assertions below would hold all the same)
    await asyncio.sleep(0.2)
    assert not waiting.done()

    sent_at = time.monotonic()
    await send(queue, [b"wake up"])
    messages = await asyncio.wait_for(waiting, timeout=30)
    assert [m.body for m in messages] == [b"wake up"]
    assert time.monotonic() - sent_at < 10.0  # the message ended the poll, long before its 20 s


@short_lease
async def test_receive_long_polls_until_a_lease_runs_out(queue: Queue) -> None:
    await send(queue, [b"slow"])
    await receive_one(queue)

    started = time.monotonic()
    again = await queue.receive(max_messages=1, wait_seconds=20)
    assert [m.body for m in again] == [b"slow"]
    assert time.monotonic() - started < 10.0  # the lease's end (0.5 s) ended the 20 s poll


async def test_an_empty_long_poll_returns_nothing_after_the_wait(queue: Queue) -> None:
    started = time.monotonic()
    assert await queue.receive(max_messages=5, wait_seconds=0.3) == []
    # it waited (0.05 s of slack for a poll interval's rounding), and did not hang; SQS
    # rounds a wait up to whole seconds
    assert 0.25 <= time.monotonic() - started < 10.0


async def test_concurrent_receivers_never_share_a_message(queue: Queue) -> None:
    # whether a receiver is already polling when the messages land or starts after, no two
    # may get the same message
    receivers = [asyncio.create_task(queue.receive(max_messages=3, wait_seconds=2)) for _ in range(4)]
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


@short_lease
async def test_extend_keeps_a_message_hidden_past_its_lease(queue: Queue) -> None:
    """A heartbeat: three extensions, each inside the lease before it, hold the message past
    its first lease."""
    await send(queue, [b"long work"])
    lease = Window(SHORT_LEASE)
    (message,) = await receive_one(queue)
    extension = SHORT_LEASE * 2
    every_one_in_time = True
    for _ in range(3):
        extended = Window(extension)
        in_time = await settled_inside(
            lease, lambda: queue.extend(receipts=[message.receipt], seconds=extension)
        )
        every_one_in_time = every_one_in_time and in_time
        lease = extended
        await asyncio.sleep(SHORT_LEASE / 2)  # real time passes: 0.75 s in all, past the first lease
    seen = await receive_one(queue)
    if every_one_in_time and lease.open():
        assert seen == [], "visible again although every extension came inside its lease"

    if await settled_inside(lease, lambda: queue.ack(receipts=[message.receipt])):
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
