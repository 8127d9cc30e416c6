"""Fan-out under injected faults and with more than one process on the same stores.

Each test scripts one way a review made fan-out lose or corrupt a timeline: a store call
that fails once, a slow store call, two processes each with a cache of its own. Faults
come from faults.py, at the store calls the code really makes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faults import Faults, platform_with

from murmur.domain import Post, RetryableStoreError, UserId
from murmur.platform import Platform
from murmur.settings import Settings, Strategy
from tests.support import make_settings, register
from workers.drain import drain


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    # every push trims to the cap: a removal always leaves the timeline short of it
    return make_settings(tmp_path, strategy=Strategy.PUSH, timeline_max=3, timeline_trim_every=1, **overrides)


async def bodies(platform: Platform, owner: str) -> list[str]:
    entries = await platform.backends.timelines.timeline(owner=UserId(owner), before=None, limit=10)
    found = await platform.backends.posts.posts_by_id(ids=[e.post_id for e in entries])
    return [found[e.post_id].body for e in entries]


async def posts_by(platform: Platform, author: str, *names: str) -> list[Post]:
    return [await platform.feed.create_post(author=UserId(author), body=name) for name in names]


async def handle_every_task(platform: Platform) -> list[BaseException]:
    """Receive what waits on the express lane and handle each task once, as a worker whose
    attempt may fail; the messages are acknowledged either way (a redelivery is the test's to make)."""
    queue = platform.backends.queue
    failures: list[BaseException] = []
    for message in await queue.receive(max_messages=10, wait_seconds=0):
        try:
            await platform.fanout.handle(message.body)
        except Exception as error:
            failures.append(error)
            await platform.fanout.handle(message.body)  # delivered again: the retry
        await queue.ack(receipts=[message.receipt])
    return failures


async def test_a_delete_whose_refill_failed_once_is_refilled_when_retried(tmp_path: Path) -> None:
    """Finding 2: the retried task removes nothing, and must still repair the timelines it targets."""
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        posts = await posts_by(platform, alice, "p1", "p2", "p3", "p4")
        await drain(platform)
        assert await bodies(platform, bob) == ["p4", "p3", "p2"]

        await platform.feed.delete_post(viewer=UserId(alice), post_id=posts[-1].id)
        faults.fail("timelines.refill")
        failures = await handle_every_task(platform)
        assert [type(f) for f in failures] == [RetryableStoreError] and faults.pending(
            "timelines.refill"
        ) == 0
        assert await bodies(platform, bob) == ["p3", "p2", "p1"]
        assert await bodies(platform, alice) == ["p3", "p2", "p1"]


async def test_an_unfollow_whose_refill_failed_once_is_refilled_when_retried(tmp_path: Path) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob, carol = [await register(platform, name) for name in ("alice", "bob", "carol")]
        for followee in (alice, carol):
            await platform.feed.follow(viewer=UserId(bob), target=UserId(followee))
        await posts_by(platform, carol, "c1")
        await posts_by(platform, alice, "a1", "a2", "a3")
        await drain(platform)
        assert await bodies(platform, bob) == ["a3", "a2", "a1"]

        await platform.feed.unfollow(viewer=UserId(bob), target=UserId(alice))
        faults.fail("timelines.refill")
        failures = await handle_every_task(platform)
        assert [type(f) for f in failures] == [RetryableStoreError]
        assert await bodies(platform, bob) == ["c1"]


async def test_a_refill_in_another_process_does_not_trust_its_cached_following_list(tmp_path: Path) -> None:
    """Finding 3: the API and a worker are two processes on one SQLite file, each with its
    own in-process cache. A follow made through the API is unknown to the worker's cache; a
    refill there must read the graph, or it fills the timeline with the wrong posts for good."""
    settings = settings_for(tmp_path)
    async with (
        platform_with(settings, Faults(), node=1) as api,
        platform_with(settings, Faults(), node=2) as worker,
    ):
        alice, bob, viewer = [await register(api, name) for name in ("alice", "bob", "viewer")]
        await api.feed.follow(viewer=UserId(viewer), target=UserId(alice))
        await drain(api)
        a = await posts_by(api, alice, "a1")
        await posts_by(api, bob, "b1")
        a += await posts_by(api, alice, "a2", "a3", "a4", "a5")
        await drain(api)
        assert await bodies(api, viewer) == ["a5", "a4", "a3"]
        # the worker refills the viewer's timeline once: a cache would now hold [viewer, alice]
        await api.feed.delete_post(viewer=UserId(alice), post_id=a[-1].id)
        await drain(worker)
        assert await bodies(api, viewer) == ["a4", "a3", "a2"]

        await api.feed.follow(viewer=UserId(viewer), target=UserId(bob))  # b1 is below the floor
        await drain(api)
        await api.feed.delete_post(viewer=UserId(alice), post_id=a[-2].id)
        await drain(worker)
        assert await bodies(api, viewer) == ["a3", "a2", "b1"]


@pytest.mark.parametrize("follow", [True, False], ids=["follow", "unfollow"])
async def test_a_graph_write_slower_than_the_outbox_grace_is_not_announced_early(
    tmp_path: Path, follow: bool
) -> None:
    """Finding 1: while the graph write stalls, relays run and workers drain; the task that
    runs must see the new graph. The queue keeps dedup keys for SQS FIFO's 5 minutes, so a
    copy relayed early and handled would make the queue drop the API's own send."""
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        if not follow:
            await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        await posts_by(platform, alice, "a1", "a2", "a3")
        await drain(platform)

        change = platform.feed.follow if follow else platform.feed.unfollow
        release = faults.hold("graph.follow" if follow else "graph.unfollow")
        changing = asyncio.create_task(change(viewer=UserId(bob), target=UserId(alice)))
        await faults.held.wait()
        relayed = await platform.feed.relay_outbox(older_than_seconds=0)  # the grace has passed
        await drain(platform)
        release.set()
        await changing
        await drain(platform)
        assert await bodies(platform, bob) == (["a3", "a2", "a1"] if follow else [])
        assert relayed == 0, "a relay published the task of a change still being made"


async def test_a_reader_skipped_on_a_clock_ahead_of_the_apis_is_rebuilt(tmp_path: Path) -> None:
    """Finding 10: push judges inactivity on the worker's clock, the returning read on the
    API's; with the worker's clock 30 s ahead, a reader skipped at the threshold must still be
    rebuilt on their next read."""
    window = timedelta(days=30)
    api_now = datetime.now(UTC)
    settings = settings_for(tmp_path, inactive_after_days=window.days)
    async with (
        platform_with(settings, Faults(), node=1, clock=lambda: api_now) as api,
        platform_with(settings, Faults(), node=2, clock=lambda: api_now + timedelta(seconds=30)) as worker,
    ):
        alice, bob = await register(api, "alice"), await register(api, "bob")
        await api.feed.follow(viewer=UserId(bob), target=UserId(alice))
        await drain(api)
        await api.feed.home_timeline(viewer=UserId(bob), after=None, start=0, first=10)  # bob is active

        api_now += window - timedelta(seconds=20)  # the worker's clock is 10 s past bob's window
        post = await api.feed.create_post(author=UserId(alice), body="while bob was away")
        await drain(worker)
        assert await bodies(api, bob) == [], "push did not skip bob: the test no longer tests anything"
        page = await api.feed.home_timeline(viewer=UserId(bob), after=None, start=0, first=10)
        assert page.post_ids == [post.id]


def test_an_inactivity_window_too_short_for_the_throttle_and_clock_skew_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inactive_after_days"):
        settings_for(tmp_path, inactive_after_days=0.01)  # 14 minutes: the throttle alone was 10


async def page_bodies(platform: Platform, viewer: str, first: int = 10) -> list[str]:
    page = await platform.feed.home_timeline(viewer=UserId(viewer), after=None, start=0, first=first)
    found = await platform.backends.posts.posts_by_id(ids=page.post_ids)
    return [found[post_id].body for post_id in page.post_ids]


def heals_at_once(platform: Platform) -> Platform:
    """Posts in these tests are seconds old: count them as settled, not as fan-out on its way."""
    platform.feed.healing.fanout_grace = timedelta(0)
    return platform


async def test_a_read_heals_a_timeline_that_lost_a_write_nobody_saw(tmp_path: Path) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        heals_at_once(platform)
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        lost, _ = await posts_by(platform, alice, "a1", "a2")
        await drain(platform)
        await platform.backends.timelines.remove_post(owners=[UserId(bob)], post_id=lost.id)  # the fault
        assert await bodies(platform, bob) == ["a2"]

        assert await page_bodies(platform, bob) == ["a2", "a1"]
        assert await bodies(platform, bob) == ["a2", "a1"]  # healed in the store, not only answered


async def test_a_read_heals_a_full_timeline_missing_a_post_whose_task_was_lost(tmp_path: Path) -> None:
    """Review: the readers with full timelines are the active ones; a dead-lettered post must
    reach their first page too."""
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        heals_at_once(platform)
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        await posts_by(platform, alice, "a1", "a2", "a3")
        await drain(platform)
        await posts_by(platform, alice, "a4")
        queue = platform.backends.queue
        lost = await queue.receive(max_messages=10, wait_seconds=0)
        await queue.dead_letter(receipts=[m.receipt for m in lost])  # its fan-out gave up
        assert await bodies(platform, bob) == ["a3", "a2", "a1"]

        assert await page_bodies(platform, bob, first=2) == ["a4", "a3"]
        assert await bodies(platform, bob) == ["a4", "a3", "a2"]


async def test_a_read_heals_a_full_timeline_that_lost_its_newest_entry(tmp_path: Path) -> None:
    """Review: the removal records a shortfall, whose refill comes from below the floor; the
    newest post must still come back."""
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        heals_at_once(platform)
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        *_, newest = await posts_by(platform, alice, "a1", "a2", "a3", "a4")
        await drain(platform)
        await platform.backends.timelines.remove_post(owners=[UserId(bob)], post_id=newest.id)

        assert await page_bodies(platform, bob, first=2) == ["a4", "a3"]
        assert await bodies(platform, bob) == ["a4", "a3", "a2"]


async def test_a_read_takes_out_what_a_lost_unfollow_left(tmp_path: Path) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob, carol = [await register(platform, name) for name in ("alice", "bob", "carol")]
        for followee in (alice, carol):
            await platform.feed.follow(viewer=UserId(bob), target=UserId(followee))
        await posts_by(platform, alice, "a1", "a2")
        await posts_by(platform, carol, "c1")
        await drain(platform)
        await platform.backends.graph.unfollow(follower=UserId(bob), followee=UserId(carol))  # no task
        assert await bodies(platform, bob) == ["c1", "a2", "a1"]

        assert await page_bodies(platform, bob) == ["a2", "a1"]
        assert await bodies(platform, bob) == ["a2", "a1"]


async def test_a_read_refills_a_shortfall_whose_task_ran_out_of_retries(tmp_path: Path) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob, carol = [await register(platform, name) for name in ("alice", "bob", "carol")]
        for followee in (carol, alice):
            await platform.feed.follow(viewer=UserId(bob), target=UserId(followee))
        await posts_by(platform, carol, "c1", "c2", "c3")
        (gone,) = await posts_by(platform, alice, "a1")
        await drain(platform)
        assert await bodies(platform, bob) == ["a1", "c3", "c2"]

        await platform.feed.delete_post(viewer=UserId(alice), post_id=gone.id)
        faults.fail("timelines.refill", times=2)  # the first attempt and its retry: given up
        with pytest.raises(RetryableStoreError):
            await handle_every_task(platform)
        assert await bodies(platform, bob) == ["c3", "c2"]

        assert await page_bodies(platform, bob) == ["c3", "c2", "c1"]
        assert await bodies(platform, bob) == ["c3", "c2", "c1"]


async def test_a_read_whose_healing_fails_is_answered_from_the_truth_and_the_next_one_heals(
    tmp_path: Path,
) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        heals_at_once(platform)
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        lost, _ = await posts_by(platform, alice, "a1", "a2")
        await drain(platform)
        await platform.backends.timelines.remove_post(owners=[UserId(bob)], post_id=lost.id)
        faults.fail("timelines.rebuild")

        assert await page_bodies(platform, bob) == ["a2", "a1"]
        assert faults.pending("timelines.rebuild") == 0 and await bodies(platform, bob) == ["a2"]
        assert await page_bodies(platform, bob) == ["a2", "a1"]
        assert await bodies(platform, bob) == ["a2", "a1"]


async def test_a_post_still_being_fanned_out_is_not_taken_for_a_loss(tmp_path: Path) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        await posts_by(platform, alice, "a1")
        await drain(platform)
        await posts_by(platform, alice, "a2")  # its task waits on the queue
        faults.calls.clear()
        assert await page_bodies(platform, bob) == ["a1"]
        assert faults.calls["timelines.rebuild"] == 0


async def test_a_reader_who_keeps_reading_is_checked_once_per_interval(tmp_path: Path) -> None:
    faults = Faults()
    async with platform_with(settings_for(tmp_path), faults) as platform:
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        await posts_by(platform, alice, "a1", "a2", "a3", "a4")
        await drain(platform)
        assert await page_bodies(platform, bob, first=2) == ["a4", "a3"]
        faults.calls.clear()
        assert await page_bodies(platform, bob, first=2) == ["a4", "a3"]
        assert faults.calls["timelines.shortfall"] == 0 and faults.calls["posts.recent_posts"] == 0


async def test_a_returning_reader_whose_rebuild_failed_is_rebuilt_on_the_next_read(tmp_path: Path) -> None:
    """The read is recorded only once the rebuild it owes has succeeded: else the reader counts
    as active and the posts push skipped while they were away are lost for good."""
    window = timedelta(days=30)
    now = datetime.now(UTC)
    faults = Faults()
    settings = settings_for(tmp_path, inactive_after_days=window.days)
    async with platform_with(settings, faults, clock=lambda: now) as platform:
        alice, bob = await register(platform, "alice"), await register(platform, "bob")
        await platform.feed.follow(viewer=UserId(bob), target=UserId(alice))
        await posts_by(platform, alice, "a1", "a2", "a3")
        await drain(platform)
        assert await page_bodies(platform, bob) == ["a3", "a2", "a1"]  # bob is active

        now += window + timedelta(days=1)
        for name in ("a4", "a5"):  # alice is active by posting; bob is skipped
            await platform.feed.home_timeline(viewer=UserId(alice), after=None, start=0, first=1)
            await posts_by(platform, alice, name)
        await drain(platform)
        assert await bodies(platform, bob) == ["a3", "a2", "a1"]

        faults.fail("timelines.rebuild")
        with pytest.raises(RetryableStoreError):
            await page_bodies(platform, bob)
        assert await page_bodies(platform, bob) == ["a5", "a4", "a3"]
