"""A post's plan delivered again after its author's followers changed: the recorded plan
decides how many chunks there are, so its live event is published exactly once, whatever the
order the plan and its chunks are handled in (issue 17, finding 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from murmur.domain import User, UserId, id_time
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.metrics import store_operation_counts
from murmur.platform import Platform
from murmur.settings import Strategy
from tests.support import make_settings, open_test_platform


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    # one follower per span: two followers make a plan of two chunks
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, workers={"followers_page_size": 1})
    async with open_test_platform(settings) as platform:
        yield platform


async def user(platform: Platform, name: str) -> UserId:
    user_id = UserId(platform.ids.next_id())
    await platform.backends.users.create_user(
        user=User(id=user_id, username=name, display_name=name, bio="", created_at=id_time(user_id)),
        password_hash="unused",
    )
    return user_id


async def take_all(platform: Platform, *, bulk: bool) -> list[bytes]:
    """The bodies waiting in a lane, acknowledged: the test hands them to the handler itself."""
    queue = platform.backends.bulk_queue if bulk else platform.backends.queue
    messages = await queue.receive(max_messages=100, wait_seconds=0)
    await queue.ack(receipts=[m.receipt for m in messages])
    return [m.body for m in messages]


async def added_events(platform: Platform, author: UserId, work: Callable[[], Awaitable[None]]) -> int:
    """How many ADDED events the author's channel carries while `work` runs."""
    bus, channel = platform.backends.bus, codec.author_channel(author)
    end = b"end of the test's work"
    added = 0
    async with bus.subscribe(channels=[channel]) as subscription:
        await work()
        await bus.publish(channel=channel, message=end)  # the bus keeps order: read up to it
        async for _, message in subscription:
            if message == end:
                return added
            added += codec.decode_timeline_event(message).kind == pb.TimelineEvent.KIND_ADDED
    raise AssertionError("the subscription ended before the test's last message")


@pytest.mark.parametrize("replan_first", [True, False], ids=["replan-first", "chunks-first"])
async def test_a_plan_delivered_again_after_the_followers_shrank_announces_once(
    platform: Platform, replan_first: bool
) -> None:
    fanout, graph = platform.fanout, platform.backends.graph
    author, stays, leaves = [await user(platform, name) for name in ("author", "stays", "leaves")]
    for follower in (stays, leaves):
        await graph.follow(follower=follower, followee=author)
    await take_all(platform, bulk=False)  # the follows' own tasks: not what this test is about

    async def work() -> None:
        post = await platform.feed.create_post(author=author, body="hello")
        (plan_task,) = await take_all(platform, bulk=False)
        await fanout.handle(plan_task)  # two spans: a plan of two chunks, recorded
        first, second = await take_all(platform, bulk=True)
        await graph.unfollow(follower=leaves, followee=author)  # now one span
        if replan_first:
            await fanout.handle(plan_task)  # delivered again
            for chunk in (first, second, *await take_all(platform, bulk=True)):
                await fanout.handle(chunk)
        else:
            await fanout.handle(second)
            await fanout.handle(plan_task)
            for chunk in (first, *await take_all(platform, bulk=True)):
                await fanout.handle(chunk)
        entries = await platform.backends.timelines.timeline(owner=stays, before=None, limit=10)
        assert post.id in {entry.post_id for entry in entries}

    assert await added_events(platform, author, work) == 1


async def test_a_plan_delivered_again_after_the_followers_grew_announces_once(platform: Platform) -> None:
    fanout, graph = platform.fanout, platform.backends.graph
    author, first, later = [await user(platform, name) for name in ("author", "first", "later")]
    await graph.follow(follower=first, followee=author)
    await take_all(platform, bulk=False)

    async def work() -> None:
        await platform.feed.create_post(author=author, body="hello")
        (plan_task,) = await take_all(platform, bulk=False)
        await fanout.handle(plan_task)  # one span: handled in place
        await graph.follow(follower=later, followee=author)  # now two spans
        await fanout.handle(plan_task)  # delivered again
        for chunk in await take_all(platform, bulk=True):
            await fanout.handle(chunk)

    assert await added_events(platform, author, work) == 1


async def test_each_chunk_costs_the_ledger_one_lookup_and_one_write(platform: Platform) -> None:
    # finding 5: a chunk used to read the whole done-set, so ledger work grew with chunks²
    author = await user(platform, "author")
    for n in range(6):
        await platform.backends.graph.follow(follower=await user(platform, f"fan{n}"), followee=author)
    await take_all(platform, bulk=False)
    await platform.feed.create_post(author=author, body="hello")
    for task in await take_all(platform, bulk=False):
        await platform.fanout.handle(task)
    chunks = await take_all(platform, bulk=True)
    assert len(chunks) == 6
    before = store_operation_counts()

    for chunk in chunks:
        await platform.fanout.handle(chunk)

    after = store_operation_counts()
    calls = {
        operation: after.get(("ledger", operation), 0) - before.get(("ledger", operation), 0)
        for operation in ("is_done", "finish", "done", "recorded", "plan")
    }
    assert calls == {"is_done": 6, "finish": 6, "done": 0, "recorded": 0, "plan": 0}


async def test_a_pulled_post_delivered_twice_is_announced_once(tmp_path: Path) -> None:
    """Pull copies nothing; its plan task only announces, and a redelivered one must not
    announce again (the ledger's one-chunk plan answers its finish once)."""
    async with open_test_platform(make_settings(tmp_path, strategy=Strategy.PULL)) as platform:
        author = await user(platform, "author")

        async def work() -> None:
            await platform.feed.create_post(author=author, body="hello")
            (plan_task,) = await take_all(platform, bulk=False)
            await platform.fanout.handle(plan_task)
            await platform.fanout.handle(plan_task)  # delivered again

        assert await added_events(platform, author, work) == 1
