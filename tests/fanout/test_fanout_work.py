"""The work a fan-out does, counted: the timeline rows it writes, the chunks it sends, the
live events it publishes, and what its re-checks take back out.

Each test names a class of bug that every other test let through when planted (issue 18):
a redelivered chunk that writes again, a plan that re-sends finished chunks, a live event
lost or doubled for one chunk or many, pushes to inactive followers, pulled posts written
into timelines, a backfill that leaves the floor low, re-checks that ignore an unfollow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faults import Faults, platform_with
from scripted import added_events, deliveries, take_all, user

from murmur.domain import UserId
from murmur.platform import Platform
from murmur.settings import Settings, Strategy
from murmur.storage.base import Outgoing
from tests.support import make_settings, open_test_platform
from workers.drain import drain


def one_follower_per_chunk(
    tmp_path: Path, *, strategy: Strategy = Strategy.PUSH, **overrides: Any
) -> Settings:
    return make_settings(tmp_path, strategy=strategy, workers={"followers_page_size": 1}, **overrides)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with open_test_platform(one_follower_per_chunk(tmp_path)) as platform:
        yield platform


async def author_with_followers(platform: Platform, followers: int) -> tuple[UserId, list[UserId]]:
    author = await user(platform, "author")
    fans = [await user(platform, f"fan{n}") for n in range(followers)]
    for fan in fans:
        await platform.backends.graph.follow(follower=fan, followee=author)
    await take_all(platform, bulk=False)  # the follows' own tasks: not what these tests are about
    return author, fans


async def timeline_ids(platform: Platform, owner: UserId) -> list[str]:
    entries = await platform.backends.timelines.timeline(owner=owner, before=None, limit=50)
    return [entry.post_id for entry in entries]


async def planned_chunks(platform: Platform, author: UserId) -> list[bytes]:
    """Post once and handle the plan task: the chunk tasks it sends to the bulk lane."""
    await platform.feed.create_post(author=author, body="hello")
    for task in await take_all(platform, bulk=False):
        await platform.fanout.handle(task)
    return await take_all(platform, bulk=True)


async def test_a_redelivered_chunk_writes_no_row_again(platform: Platform) -> None:
    author, fans = await author_with_followers(platform, 3)
    chunks = await planned_chunks(platform, author)
    assert len(chunks) == 3
    for chunk in chunks:
        await platform.fanout.handle(chunk)
    written = deliveries()

    for chunk in chunks:  # every chunk delivered a second time: the ledger says done
        await platform.fanout.handle(chunk)

    assert deliveries() == written
    for fan in fans:
        assert len(await timeline_ids(platform, fan)) == 1


async def test_a_plan_delivered_again_sends_only_the_chunks_not_done(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    author, _ = await author_with_followers(platform, 3)
    await platform.feed.create_post(author=author, body="hello")
    (plan_task,) = await take_all(platform, bulk=False)
    bulk = platform.backends.bulk_queue
    sent: list[list[str | None]] = []
    real_send = bulk.send

    async def send(*, messages: Sequence[Outgoing]) -> None:
        sent.append([m.dedup_key for m in messages])  # what the planner asks for, before any dedup
        await real_send(messages=messages)

    monkeypatch.setattr(bulk, "send", send)
    await platform.fanout.handle(plan_task)
    first, *_ = await take_all(platform, bulk=True)
    await platform.fanout.handle(first)

    await platform.fanout.handle(plan_task)  # the plan delivered again, one chunk done

    assert len(sent) == 2 and len(sent[0]) == 3
    assert sorted(sent[1], key=str) == sorted(sent[0][1:], key=str), "a finished chunk was sent again"


@pytest.mark.parametrize("followers", [0, 1, 3], ids=["no-follower", "one-chunk", "three-chunks"])
async def test_a_post_is_announced_once_when_its_last_chunk_is_done(
    platform: Platform, followers: int
) -> None:
    author, _ = await author_with_followers(platform, followers)
    chunks: list[bytes] = []

    async def plan_and_all_but_the_last_chunk() -> None:
        chunks.extend(await planned_chunks(platform, author))
        for chunk in chunks[:-1]:
            await platform.fanout.handle(chunk)

    async def the_last_chunk_twice() -> None:
        for chunk in chunks[-1:] * 2:
            await platform.fanout.handle(chunk)

    early = await added_events(platform, author, plan_and_all_but_the_last_chunk)
    if followers <= 1:  # handled in place by the plan task: announced there
        assert (early, chunks) == (1, [])
    else:
        assert early == 0, "announced before every chunk was done"
        assert await added_events(platform, author, the_last_chunk_twice) == 1


async def test_push_writes_no_row_for_an_inactive_follower(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    clock = [now]
    settings = one_follower_per_chunk(tmp_path, inactive_after_days=1)
    async with platform_with(settings, Faults(), clock=lambda: clock[0]) as platform:
        author, (active, inactive) = await author_with_followers(platform, 2)
        clock[0] = now + timedelta(days=2)  # both were created two days ago, one has read since
        await platform.backends.users.record_activity(user_id=active, at=clock[0])
        await platform.backends.users.record_activity(user_id=author, at=clock[0])
        before = deliveries()

        for chunk in await planned_chunks(platform, author):
            await platform.fanout.handle(chunk)

        assert deliveries() - before == 2  # the author's own timeline and the active follower's
        assert len(await timeline_ids(platform, active)) == 1
        assert await timeline_ids(platform, inactive) == []


async def test_a_pulled_post_is_written_into_no_timeline(tmp_path: Path) -> None:
    settings = one_follower_per_chunk(tmp_path, strategy=Strategy.HYBRID, hybrid_threshold=2)
    async with open_test_platform(settings) as platform:
        author, fans = await author_with_followers(platform, 3)  # over the threshold: pulled
        before = deliveries()
        assert await planned_chunks(platform, author) == []
        assert deliveries() == before
        for owner in (author, *fans):
            assert await timeline_ids(platform, owner) == []


async def test_a_removal_after_a_backfill_refills_what_lies_below_it(tmp_path: Path) -> None:
    """A backfill brings the followee's newest `cap` posts, so the timeline is complete only
    down to the oldest of them: when a removal leaves it short, the followee's older post
    comes back through a refill instead of being taken for absent. (On SQLite every write
    trims, and the trim raises the floor too: see docs/mutation.md.)"""
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, timeline_max=3)
    async with open_test_platform(settings) as platform:
        reader, prolific = await user(platform, "reader"), await user(platform, "prolific")
        feed = platform.feed
        p1, p2, p3, p4 = [await feed.create_post(author=prolific, body=f"p{n}") for n in range(1, 5)]
        await drain(platform)
        await feed.follow(viewer=reader, target=prolific)  # backfills p4, p3, p2: the cap, no trim
        await drain(platform)
        await feed.delete_post(viewer=prolific, post_id=p4.id)
        await drain(platform)

        assert await timeline_ids(platform, reader) == [p3.id, p2.id, p1.id]


@pytest.mark.parametrize("page_size", [1, 2], ids=["one-owner-chunks", "two-owner-chunks"])
async def test_a_chunk_written_while_its_reader_unfollowed_is_taken_back(
    tmp_path: Path, page_size: int
) -> None:
    """The chunk read the followers, the unfollow and its task ran, then the chunk wrote:
    only the chunk's re-check can see that one of its owners left (a chunk of one owner and
    a chunk of many are checked differently)."""
    faults = Faults()
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, workers={"followers_page_size": page_size})
    async with platform_with(settings, faults) as platform:
        author, (*stay, leaves) = await author_with_followers(platform, 3)  # spans run newest first
        chunks = await planned_chunks(platform, author)
        release = faults.hold("timelines.add_to_timelines")
        writing = [asyncio.create_task(platform.fanout.handle(chunk)) for chunk in chunks]
        await faults.until_holding("timelines.add_to_timelines", len(chunks))  # each read its followers
        await platform.feed.unfollow(viewer=leaves, target=author)
        await drain(platform)  # the unfollow's task: nothing of the author's to take out yet
        release.set()
        await asyncio.gather(*writing)

        assert await timeline_ids(platform, leaves) == []
        for owner in stay:
            assert len(await timeline_ids(platform, owner)) == 1


async def test_a_rebuild_written_while_its_reader_unfollowed_is_rechecked_and_refilled(
    tmp_path: Path,
) -> None:
    """A rebuild read the newest posts of whom the reader follows; the reader unfollowed one
    author before it wrote. Its re-check takes that author's posts out and the repair fills
    the timeline from the author still followed."""
    faults = Faults()
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, timeline_max=3)
    async with platform_with(settings, faults) as platform:
        reader, dropped, kept = [await user(platform, name) for name in ("reader", "dropped", "kept")]
        feed = platform.feed
        kept_posts = [await feed.create_post(author=kept, body=f"k{n}") for n in range(3)]
        for n in range(3):
            await feed.create_post(author=dropped, body=f"d{n}")  # newer: what the rebuild reads
        for author in (dropped, kept):
            await feed.follow(viewer=reader, target=author)
        await drain(platform)

        release = faults.hold("timelines.rebuild")
        rebuilding = asyncio.create_task(platform.fanout.repair.rebuild(reader))
        await faults.held.wait()
        await feed.unfollow(viewer=reader, target=dropped)
        await drain(platform)
        release.set()
        await rebuilding

        assert await timeline_ids(platform, reader) == [p.id for p in reversed(kept_posts)]
