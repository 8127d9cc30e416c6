"""A post's plan delivered again after its author's followers changed: the recorded plan
decides how many chunks there are, so its live event is published exactly once, whatever the
order the plan and its chunks are handled in (issue 17, finding 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from scripted import added_events, take_all, user

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
