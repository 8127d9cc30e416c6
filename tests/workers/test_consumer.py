"""The consumer settles every message the way an at-least-once queue needs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from murmur.domain import Delivery, UserId
from murmur.events import codec
from murmur.settings import Strategy
from murmur.storage.base import Outgoing, QueueMessage
from tests.support import make_settings, open_test_platform, register
from workers.consumer import backoff_seconds
from workers.drain import drain
from workers.pool import consumer_for


async def test_poison_messages_go_straight_to_the_dead_letter_queue(tmp_path: Path) -> None:
    async with open_test_platform(make_settings(tmp_path)) as platform:
        queue = platform.backends.queue
        garbage, empty = b"\x08\x96\x01garbage", codec.post_created("1", "2", Delivery.PUSHED)[:0]
        await queue.send(messages=[Outgoing(garbage), Outgoing(empty)])
        assert await consumer_for(platform).poll_once(wait_seconds=0) == 2
        depth = await queue.depth()
        assert (depth.visible, depth.in_flight, depth.dead) == (0, 0, 2)
        assert b"\x08\x96\x01garbage" in await queue.dead_letters(limit=10)


async def test_a_task_for_a_deleted_post_is_acknowledged_and_delivers_nothing(tmp_path: Path) -> None:
    async with open_test_platform(make_settings(tmp_path, strategy=Strategy.PUSH)) as platform:
        alice = UserId(await register(platform, "alice"))
        await platform.backends.queue.send(
            messages=[Outgoing(codec.post_created("123", alice, Delivery.PUSHED))]
        )
        assert await drain(platform) == 1
        assert await platform.backends.timelines.timeline(owner=alice, before=None, limit=10) == []
        depth = await platform.backends.queue.depth()
        assert (depth.visible, depth.in_flight, depth.dead) == (0, 0, 0)


async def test_a_failing_handler_is_retried_after_a_backoff_and_then_delivers(tmp_path: Path) -> None:
    async with open_test_platform(make_settings(tmp_path, strategy=Strategy.PUSH)) as platform:
        alice = UserId(await register(platform, "alice"))
        post = await platform.feed.create_post(author=alice, body="hello")
        real = platform.fanout

        class FailsOnce:
            """The store behind the handler drops the first attempt."""

            calls = 0

            async def handle(self, body: bytes) -> None:
                FailsOnce.calls += 1
                if FailsOnce.calls == 1:
                    raise ConnectionError("timeline store unreachable")
                await real.handle(body)

        platform.fanout = FailsOnce()  # type: ignore[assignment]
        consumer = consumer_for(platform)
        assert await consumer.poll_once(wait_seconds=0) == 1
        depth = await platform.backends.queue.depth()
        assert (depth.visible, depth.in_flight, depth.dead) == (0, 1, 0)  # hidden for the backoff
        assert await consumer.poll_once(wait_seconds=0) == 0
        # the first backoff is one second; then the message comes back and succeeds
        assert await consumer.poll_once(wait_seconds=3) == 1
        entries = await platform.backends.timelines.timeline(owner=alice, before=None, limit=10)
        assert [e.post_id for e in entries] == [post.id]
        depth = await platform.backends.queue.depth()
        assert (depth.visible, depth.in_flight, depth.dead) == (0, 0, 0)


@pytest.mark.parametrize(("count", "seconds"), [(1, 1.0), (2, 2.0), (5, 16.0), (30, 60.0)])
def test_backoff_doubles_up_to_a_minute(count: int, seconds: float) -> None:
    assert backoff_seconds(count) == seconds


async def test_a_consumer_cancelled_while_its_receive_is_answered_hands_the_messages_back(
    tmp_path: Path,
) -> None:
    """A receive cut off after the queue leased messages (its answer in flight) must not
    leave them leased until their lease runs out: the consumer hands them straight back."""
    async with open_test_platform(make_settings(tmp_path)) as platform:
        queue = platform.backends.queue
        await queue.send(messages=[Outgoing(codec.post_created("1", "2", Delivery.PUSHED))])
        real_receive = queue.receive
        answering = asyncio.Event()

        async def slow_answer(*, max_messages: int, wait_seconds: float) -> list[QueueMessage]:
            messages = await real_receive(max_messages=max_messages, wait_seconds=wait_seconds)
            answering.set()
            await asyncio.sleep(0.3)  # the answer is on its way back when the consumer is stopped
            return messages

        queue.receive = slow_answer  # type: ignore[method-assign]
        running = asyncio.create_task(consumer_for(platform).poll_once(wait_seconds=0))
        await answering.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        depth = await queue.depth()
        assert (depth.visible, depth.in_flight) == (1, 0)
