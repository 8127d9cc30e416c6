"""TimelineStore contract: newest first, idempotent writes, a window of the newest cap entries,
exact above its floor, and all of it under concurrency (at caps 5 and 800).

`truth` in these tests is what fan-out would read from the source of truth: every post of
the owner's sources. `settle` plays the fan-out's part after removals: it asks for the
shortfall and refills from the truth until the store says nothing is missing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from contract_helpers import new_id

from murmur.domain import PostId, TimelineEntry, UserId
from murmur.storage.base import Shortfall, TimelineStore


def owners(n: int) -> list[UserId]:
    return [UserId(new_id()) for _ in range(n)]


def entries(n: int, author: UserId | None = None, *, days_ago: int = 0) -> list[TimelineEntry]:
    """n entries, oldest first (ids grow with time)."""
    at = datetime.now(UTC) - timedelta(days=days_ago) if days_ago else None
    return [
        TimelineEntry(post_id=PostId(new_id(at)), author_id=author or UserId(new_id(at))) for _ in range(n)
    ]


def newest(truth: Sequence[TimelineEntry], n: int) -> list[TimelineEntry]:
    return sorted(set(truth), key=lambda e: int(e.post_id), reverse=True)[:n]


async def window(timelines: TimelineStore, owner: UserId) -> list[TimelineEntry]:
    """What a reader sees: the timeline from the top (a store returns at most cap)."""
    return await timelines.timeline(owner=owner, before=None, limit=timelines.cap + 10)


async def settle(timelines: TimelineStore, owner: UserId, truth: Sequence[TimelineEntry]) -> int:
    """Refill from the truth until nothing is missing; how many refills it took."""
    for refills in range(20):
        short = (await timelines.shortfall(owners=[owner])).get(owner)
        if short is None:
            return refills
        older = [e for e in newest(truth, len(truth)) if int(e.post_id) < int(short.below)][: short.missing]
        await timelines.refill(owner=owner, entries=older, below=short.below, wanted=short.missing)
    raise AssertionError("the shortfall never settled")


async def full(timelines: TimelineStore, owner: UserId, *, extra: int = 3) -> list[TimelineEntry]:
    """A timeline rebuilt from a truth with `extra` posts more than the cap; the truth."""
    truth = entries(timelines.cap + extra)
    await timelines.rebuild(owner=owner, entries=newest(truth, timelines.cap))
    return truth


async def test_cap_is_the_configured_one(timelines: TimelineStore, timeline_cap: int) -> None:
    assert timelines.cap == timeline_cap
    assert timelines.trim_every >= 1


async def test_pushed_entries_come_back_newest_first(timelines: TimelineStore) -> None:
    a, b = owners(2)
    posts = entries(4)
    for entry in posts:
        await timelines.add_to_timelines(owners=[a, b], entry=entry)

    assert await window(timelines, a) == posts[::-1][: timelines.cap]
    assert await window(timelines, b) == posts[::-1][: timelines.cap]


async def test_order_is_by_post_not_by_arrival(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    posts = entries(5)
    for entry in random.Random(3).sample(posts, len(posts)):
        await timelines.add_to_timelines(owners=[owner], entry=entry)

    assert await window(timelines, owner) == posts[::-1][: timelines.cap]


async def test_adding_an_entry_again_changes_nothing(timelines: TimelineStore) -> None:
    a, b = owners(2)
    first, second = entries(2)
    await timelines.add_to_timelines(owners=[a], entry=first)
    await timelines.add_to_timelines(owners=[a, b], entry=second)
    await timelines.add_to_timelines(owners=[a, b, a], entry=second)  # a redelivered task
    await timelines.backfill(owner=a, entries=[first, second, first], complete_above=None)

    assert await window(timelines, a) == [second, first][: timelines.cap]
    assert await timelines.timeline_sizes(owners=[a, b]) == {a: 2, b: 1}


async def test_the_window_is_the_newest_cap_however_many_arrive(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner, fresh = owners(2)
    truth = await full(timelines, owner)
    pushed = entries(min(cap, 20) + 3)  # the window turns over at cap 5; at 800, 23 mix in
    for entry in pushed:
        await timelines.add_to_timelines(owners=[owner, fresh], entry=entry)

    assert await window(timelines, owner) == newest([*truth, *pushed], cap)
    assert await window(timelines, fresh) == newest(pushed, cap)
    assert await timelines.shortfall(owners=[owner, fresh]) == {}


# a small cap only: ten trims' worth past a cap of 800 would prove nothing more, slowly
@pytest.mark.parametrize("timeline_cap", [5], ids=["cap5"])
async def test_trims_keep_storage_near_the_cap(timelines: TimelineStore) -> None:
    cap, every = timelines.cap, timelines.trim_every
    owner = owners(1)[0]
    pushed = entries(cap + 10 * every)
    for entry in pushed:
        await timelines.add_to_timelines(owners=[owner], entry=entry)

    assert await window(timelines, owner) == newest(pushed, cap)
    size = (await timelines.timeline_sizes(owners=[owner]))[owner]
    # a store that never trims holds all cap + 10 * every; one that trims about one push in
    # `every` has trimmed at least once in 10 * every pushes (no trim: e^-10, 1 run in 22,000)
    assert cap <= size < cap + 10 * every
    assert await timelines.shortfall(owners=[owner]) == {}


async def test_an_entry_older_than_a_full_timeline_is_not_shown(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    truth = await full(timelines, owner)
    stale = entries(1, days_ago=30)[0]
    await timelines.add_to_timelines(owners=[owner], entry=stale)
    await timelines.backfill(owner=owner, entries=entries(2, days_ago=3), complete_above=None)

    assert await window(timelines, owner) == newest(truth, timelines.cap)


async def test_backfill_merges_and_keeps_the_newest_cap(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    mine, theirs = entries(min(cap, 20)), entries(cap + 2)
    await timelines.backfill(owner=owner, entries=mine, complete_above=None)
    await timelines.backfill(owner=owner, entries=theirs[::-1][:cap], complete_above=theirs[2].post_id)

    assert await window(timelines, owner) == newest(theirs, cap)
    assert await timelines.shortfall(owners=[owner]) == {}  # all of the window is above the floor


async def test_a_backfill_that_raises_the_floor_past_the_window_is_short(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    older = entries(cap, days_ago=2)
    await timelines.backfill(owner=owner, entries=older, complete_above=None)
    # a followee with many recent posts: only its newest cap come, so the timeline is exact only
    # down to the oldest of those, and the older entries at or above that floor are too few
    theirs = entries(cap + 5)
    sent = newest(theirs, cap)[: cap // 2 + 1]
    await timelines.backfill(owner=owner, entries=sent, complete_above=sent[-1].post_id)

    short = (await timelines.shortfall(owners=[owner]))[owner]
    assert short == Shortfall(missing=cap - len(sent), below=sent[-1].post_id)
    await settle(timelines, owner, [*older, *theirs])
    assert await window(timelines, owner) == newest([*older, *theirs], cap)


async def test_many_owners_in_one_push(timelines: TimelineStore) -> None:
    cap = timelines.cap
    crowd = owners(600)  # several of every batch size a store uses (25, 100, 1000...)
    filled = crowd[::3][:10]
    for owner in filled:
        await timelines.backfill(owner=owner, entries=entries(cap, days_ago=1), complete_above=None)
    entry = entries(1)[0]
    await timelines.add_to_timelines(owners=crowd, entry=entry)

    sizes = await timelines.timeline_sizes(owners=crowd)
    assert {sizes[o] for o in filled} <= set(range(cap, cap + 2))
    assert {sizes[o] for o in crowd if o not in set(filled)} == {1}
    for owner in (crowd[0], crowd[1], crowd[-1]):
        assert (await timelines.timeline(owner=owner, before=None, limit=1)) == [entry]


async def test_remove_post_reports_who_held_it(timelines: TimelineStore) -> None:
    a, b, c = owners(3)
    kept, removed = entries(2)
    await timelines.add_to_timelines(owners=[a, b, c], entry=kept)
    await timelines.add_to_timelines(owners=[a, c], entry=removed)

    held = await timelines.remove_post(owners=[a, b, c], post_id=removed.post_id)
    assert sorted(held) == sorted([a, c])
    assert await timelines.remove_post(owners=[a, b, c], post_id=removed.post_id) == []
    assert await timelines.timeline_sizes(owners=[a, b, c]) == {a: 1, b: 1, c: 1}
    assert await window(timelines, a) == [kept]


async def test_a_timeline_exact_all_the_way_down_is_never_short(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    posts = entries(3)
    for entry in posts:
        await timelines.add_to_timelines(owners=[owner], entry=entry)
    await timelines.remove_post(owners=[owner], post_id=posts[1].post_id)

    assert await timelines.shortfall(owners=[owner]) == {}
    assert await window(timelines, owner) == [posts[2], posts[0]][: timelines.cap]


async def test_a_removal_from_a_full_timeline_leaves_it_short_until_refilled(
    timelines: TimelineStore,
) -> None:
    cap = timelines.cap
    owner, bystander = owners(2)
    truth = await full(timelines, owner)
    shown = newest(truth, cap)
    await timelines.remove_post(owners=[owner], post_id=shown[1].post_id)
    truth.remove(shown[1])

    assert await timelines.shortfall(owners=[owner, bystander]) == {
        owner: Shortfall(missing=1, below=shown[-1].post_id)
    }
    next_older = newest(truth, cap)[-1]
    assert await timelines.refill(owner=owner, entries=[next_older], below=shown[-1].post_id, wanted=1)
    assert await timelines.shortfall(owners=[owner]) == {}
    assert await window(timelines, owner) == newest(truth, cap)


async def test_a_refill_that_finds_fewer_than_wanted_reaches_the_bottom(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    truth = await full(timelines, owner, extra=0)
    shown = newest(truth, cap)
    for entry in shown[:2]:
        await timelines.remove_post(owners=[owner], post_id=entry.post_id)

    short = (await timelines.shortfall(owners=[owner]))[owner]
    assert short.missing == 2
    assert await timelines.refill(owner=owner, entries=[], below=short.below, wanted=2)
    assert await timelines.shortfall(owners=[owner]) == {}  # exact all the way down now
    assert await window(timelines, owner) == shown[2:]


async def test_a_refill_whose_floor_moved_meanwhile_says_so(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    truth = await full(timelines, owner, extra=4)
    shown = newest(truth, cap)
    await timelines.remove_post(owners=[owner], post_id=shown[0].post_id)
    truth.remove(shown[0])
    short = (await timelines.shortfall(owners=[owner]))[owner]
    older = [e for e in newest(truth, len(truth)) if int(e.post_id) < int(short.below)]
    # another worker refills first and moves the floor
    assert await timelines.refill(owner=owner, entries=older[:1], below=short.below, wanted=1)

    assert not await timelines.refill(owner=owner, entries=older[:1], below=short.below, wanted=1)
    await settle(timelines, owner, truth)
    assert await window(timelines, owner) == newest(truth, cap)


async def test_rebuild_sets_the_floor_at_the_oldest_entry(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner, small = owners(2)
    stale = entries(2, days_ago=9)  # from before the rebuild: still true posts, older
    await timelines.backfill(owner=owner, entries=stale, complete_above=None)
    truth = entries(cap + 4)
    await timelines.rebuild(owner=owner, entries=newest(truth, cap))
    await timelines.rebuild(owner=small, entries=entries(2))

    assert await window(timelines, owner) == newest(truth, cap)
    await timelines.remove_post(owners=[owner, small], post_id=newest(truth, cap)[0].post_id)
    assert set(await timelines.shortfall(owners=[owner, small])) == {owner}  # small: exact to the bottom


async def test_remove_author_removes_only_their_posts_from_one_timeline(timelines: TimelineStore) -> None:
    owner, other_owner, author = owners(3)
    theirs = entries(3, author=author)
    others = entries(2)
    for entry in [*theirs, *others]:
        await timelines.add_to_timelines(owners=[owner, other_owner], entry=entry)
    expected = min(3, timelines.cap - len(others))  # how many of theirs are in the window

    assert await timelines.remove_author(owner=owner, author_id=author) >= expected
    assert await timelines.remove_author(owner=owner, author_id=author) == 0
    assert await window(timelines, owner) == others[::-1][: timelines.cap]
    assert len(await window(timelines, other_owner)) == min(5, timelines.cap)


async def test_timeline_pages_by_the_last_entry_seen(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    posts = entries(min(timelines.cap, 12))
    for entry in posts:
        await timelines.add_to_timelines(owners=[owner], entry=entry)

    seen: list[TimelineEntry] = []
    before: PostId | None = None
    while page := await timelines.timeline(owner=owner, before=before, limit=2):
        seen.extend(page)
        before = page[-1].post_id
    assert seen == posts[::-1]


async def test_pages_are_stable_when_posts_arrive_at_the_head(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    posts = entries(min(timelines.cap, 9))
    await timelines.backfill(owner=owner, entries=posts, complete_above=None)

    first = await timelines.timeline(owner=owner, before=None, limit=2)
    await timelines.add_to_timelines(owners=[owner], entry=entries(1)[0])
    second = await timelines.timeline(owner=owner, before=first[-1].post_id, limit=2)
    assert [*first, *second] == posts[::-1][:4]


async def test_unknown_owners_have_empty_timelines(timelines: TimelineStore) -> None:
    stranger = owners(1)[0]
    assert await timelines.timeline(owner=stranger, before=None, limit=10) == []
    assert await timelines.timeline_sizes(owners=[stranger]) == {stranger: 0}
    assert await timelines.remove_author(owner=stranger, author_id=owners(1)[0]) == 0
    assert await timelines.remove_post(owners=[stranger], post_id=PostId(new_id())) == []
    assert await timelines.shortfall(owners=[stranger]) == {}
    await timelines.add_to_timelines(owners=[], entry=entries(1)[0])


# --- reads between writes ---------------------------------------------------------------------


async def test_every_write_shows_in_the_next_read_after_a_read(timelines: TimelineStore) -> None:
    """Read, write, read again, for every kind of write. A store that keeps what it read (the
    hot timelines keep the timeline in Redis) must answer the second read as a store without
    that copy would: additions show, removals stay removed, refills and rebuilds take hold."""
    cap = timelines.cap
    owner, author = owners(2)
    truth = await full(timelines, owner)

    async def check() -> None:
        assert await window(timelines, owner) == newest(truth, cap)

    async def read_while_short() -> None:
        # what a short timeline shows below its floor is the store's business; the read is not
        await window(timelines, owner)

    await check()
    pushed = [*entries(2), *entries(2, author=author)]
    for entry in pushed:
        await timelines.add_to_timelines(owners=[owner], entry=entry)
    truth += pushed
    await check()

    gone = newest(truth, cap)[1]
    assert await timelines.remove_post(owners=[owner], post_id=gone.post_id) == [owner]
    truth.remove(gone)
    await read_while_short()
    await settle(timelines, owner, truth)
    await check()

    assert await timelines.remove_author(owner=owner, author_id=author) >= 1
    truth = [entry for entry in truth if entry.author_id != author]
    await read_while_short()
    await settle(timelines, owner, truth)
    await check()

    followed = entries(3)  # a follow: all of the followee's posts
    await timelines.backfill(owner=owner, entries=followed, complete_above=None)
    truth += followed
    await check()

    returning = entries(2)  # pushes this timeline missed, then a rebuild from the sources
    truth += returning
    await timelines.rebuild(owner=owner, entries=newest(truth, cap))
    await check()


# --- concurrency: the same writes racing each other ------------------------------------------


async def test_identical_pushes_racing_leave_what_one_leaves(timelines: TimelineStore) -> None:
    # three entries in a timeline of cap 3 (or more), pushed twice at once: nothing is lost
    cap = timelines.cap
    owner = owners(1)[0]
    posts = entries(min(cap, 3))
    for entry in posts:
        await asyncio.gather(*(timelines.add_to_timelines(owners=[owner], entry=entry) for _ in range(2)))

    assert await window(timelines, owner) == posts[::-1]
    assert (await timelines.timeline_sizes(owners=[owner]))[owner] == len(posts)


async def test_a_redelivered_chunk_racing_pushes_and_trims_loses_nothing(timelines: TimelineStore) -> None:
    cap = timelines.cap
    crowd = owners(30)
    truths = {owner: await full(timelines, owner) for owner in crowd[:3]}
    pushed = entries(12)
    # every push twice, all at once: copies of one chunk racing each other and the others' trims
    await asyncio.gather(
        *(timelines.add_to_timelines(owners=crowd, entry=entry) for entry in pushed for _ in range(2))
    )

    for owner in crowd:
        truth = [*truths.get(owner, []), *pushed]
        assert await window(timelines, owner) == newest(truth, cap)
    assert await timelines.shortfall(owners=crowd) == {}


async def test_identical_removals_racing_report_the_holders(timelines: TimelineStore) -> None:
    a, b = owners(2)
    post = entries(1)[0]
    await timelines.add_to_timelines(owners=[a, b], entry=post)
    held = await asyncio.gather(
        *(timelines.remove_post(owners=[a, b], post_id=post.post_id) for _ in range(3))
    )

    assert set().union(*held) == {a, b}
    assert await window(timelines, a) == await window(timelines, b) == []


async def test_removals_racing_pushes_and_trims_are_never_lost_from_the_shortfall(
    timelines: TimelineStore,
) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    truth = await full(timelines, owner, extra=cap)
    pushed = entries(2 * timelines.trim_every if cap <= 50 else 6)
    removed = newest(truth, cap)[1 : min(cap, 4)]
    await asyncio.gather(
        *(timelines.add_to_timelines(owners=[owner], entry=entry) for entry in pushed),
        *(timelines.remove_post(owners=[owner], post_id=entry.post_id) for entry in removed),
    )
    remaining = [e for e in [*truth, *pushed] if e not in removed]

    await settle(timelines, owner, remaining)
    assert await window(timelines, owner) == newest(remaining, cap)


async def test_refills_racing_each_other_and_removals_settle_exactly(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    truth = await full(timelines, owner, extra=cap)
    shown = newest(truth, cap)
    first, second = shown[0], shown[min(2, cap - 1)]
    await timelines.remove_post(owners=[owner], post_id=first.post_id)
    truth.remove(first)
    short = (await timelines.shortfall(owners=[owner]))[owner]
    older = [e for e in newest(truth, len(truth)) if int(e.post_id) < int(short.below)][: short.missing]
    await asyncio.gather(
        timelines.refill(owner=owner, entries=older, below=short.below, wanted=short.missing),
        timelines.refill(owner=owner, entries=older, below=short.below, wanted=short.missing),
        timelines.remove_post(owners=[owner], post_id=second.post_id),
    )
    if second != first:
        truth.remove(second)

    await settle(timelines, owner, truth)
    assert await window(timelines, owner) == newest(truth, cap)
