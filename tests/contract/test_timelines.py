"""TimelineStore contract: newest first, idempotent writes, and every timeline capped (at 5 and at 800)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from contract_helpers import new_id

from murmur.domain import PostId, TimelineEntry, UserId
from murmur.storage.base import TimelineStore


def owners(n: int) -> list[UserId]:
    return [UserId(new_id()) for _ in range(n)]


def entries(n: int, author: UserId | None = None) -> list[TimelineEntry]:
    """n entries, oldest first (ids grow with time)."""
    return [TimelineEntry(post_id=PostId(new_id()), author_id=author or UserId(new_id())) for _ in range(n)]


def older_entry(days: int = 30) -> TimelineEntry:
    at = datetime.now(UTC) - timedelta(days=days)
    return TimelineEntry(post_id=PostId(new_id(at)), author_id=UserId(new_id(at)))


async def whole(timelines: TimelineStore, owner: UserId) -> list[TimelineEntry]:
    return await timelines.timeline(owner=owner, before=None, limit=timelines.cap + 10)


async def test_cap_is_the_configured_one(timelines: TimelineStore, timeline_cap: int) -> None:
    assert timelines.cap == timeline_cap


async def test_pushed_entries_come_back_newest_first(timelines: TimelineStore) -> None:
    a, b = owners(2)
    posts = entries(4)
    for entry in posts:
        await timelines.add_to_timelines(owners=[a, b], entry=entry)

    assert await whole(timelines, a) == posts[::-1][: timelines.cap]
    assert await whole(timelines, b) == posts[::-1][: timelines.cap]
    assert await timelines.timeline_sizes(owners=[a, b]) == {
        a: min(4, timelines.cap),
        b: min(4, timelines.cap),
    }


async def test_order_is_by_post_not_by_arrival(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    posts = entries(5)
    for entry in random.Random(3).sample(posts, len(posts)):
        await timelines.add_to_timelines(owners=[owner], entry=entry)

    assert await whole(timelines, owner) == posts[::-1][: timelines.cap]


async def test_adding_an_entry_again_changes_nothing(timelines: TimelineStore) -> None:
    a, b = owners(2)
    first, second = entries(2)
    await timelines.add_to_timelines(owners=[a], entry=first)
    await timelines.add_to_timelines(owners=[a, b], entry=second)
    await timelines.add_to_timelines(owners=[a, b, a], entry=second)  # a redelivered task
    await timelines.add_entries(owner=a, entries=[first, second, first])

    assert await whole(timelines, a) == [second, first]
    assert await timelines.timeline_sizes(owners=[a, b]) == {a: 2, b: 1}


async def test_pushes_trim_each_timeline_to_the_newest_cap(timelines: TimelineStore) -> None:
    cap = timelines.cap
    full, fresh = owners(2)
    posts = entries(cap + 3)
    await timelines.add_entries(owner=full, entries=posts[:cap])
    for entry in posts[cap:]:
        await timelines.add_to_timelines(owners=[full, fresh], entry=entry)

    assert await whole(timelines, full) == posts[::-1][:cap]
    assert await whole(timelines, fresh) == posts[cap:][::-1]
    assert await timelines.timeline_sizes(owners=[full, fresh]) == {full: cap, fresh: 3}


async def test_an_entry_older_than_a_full_timeline_is_not_kept(timelines: TimelineStore) -> None:
    owner = owners(1)[0]
    posts = entries(timelines.cap)
    await timelines.add_entries(owner=owner, entries=posts)
    await timelines.add_to_timelines(owners=[owner], entry=older_entry())
    await timelines.add_entries(owner=owner, entries=[older_entry(2), older_entry(3)])

    assert await whole(timelines, owner) == posts[::-1]
    assert (await timelines.timeline_sizes(owners=[owner]))[owner] == timelines.cap


async def test_backfill_merges_and_keeps_the_newest_cap(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    mine, theirs = entries(cap), entries(cap + 2)
    await timelines.add_entries(owner=owner, entries=mine)
    await timelines.add_entries(owner=owner, entries=theirs[::-1])  # any order

    assert await whole(timelines, owner) == theirs[::-1][:cap]
    assert (await timelines.timeline_sizes(owners=[owner]))[owner] == cap
    await timelines.add_entries(owner=owner, entries=[])
    assert (await timelines.timeline_sizes(owners=[owner]))[owner] == cap


async def test_many_owners_in_one_push(timelines: TimelineStore) -> None:
    cap = timelines.cap
    crowd = owners(3000)
    full = crowd[::3]
    for owner in full[:50]:
        await timelines.add_entries(owner=owner, entries=entries(cap))
    entry = entries(1)[0]
    await timelines.add_to_timelines(owners=crowd, entry=entry)

    sizes = await timelines.timeline_sizes(owners=crowd)
    assert {sizes[o] for o in full[:50]} == {cap}
    assert {sizes[o] for o in crowd if o not in set(full[:50])} == {1}
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
    assert await whole(timelines, a) == [kept]


async def test_a_removal_frees_room_below_the_cap(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner = owners(1)[0]
    posts = entries(cap)
    await timelines.add_entries(owner=owner, entries=posts)
    await timelines.remove_post(owners=[owner], post_id=posts[-1].post_id)
    refill = older_entry()
    await timelines.add_entries(owner=owner, entries=[refill])

    assert await whole(timelines, owner) == [*posts[:-1][::-1], refill]
    assert (await timelines.timeline_sizes(owners=[owner]))[owner] == cap


async def test_remove_author_removes_only_their_posts_from_one_timeline(timelines: TimelineStore) -> None:
    owner, other_owner, author = owners(3)
    theirs = entries(3, author=author)
    others = entries(2)
    for entry in [*theirs, *others]:
        await timelines.add_to_timelines(owners=[owner, other_owner], entry=entry)
    expected = min(3, timelines.cap - len(others))  # how many of theirs survived the cap

    assert await timelines.remove_author(owner=owner, author_id=author) == expected
    assert await timelines.remove_author(owner=owner, author_id=author) == 0
    assert await whole(timelines, owner) == others[::-1]
    assert len(await whole(timelines, other_owner)) == min(5, timelines.cap)
    assert (await timelines.timeline_sizes(owners=[owner]))[owner] == 2


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
    await timelines.add_entries(owner=owner, entries=posts)

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
    await timelines.add_to_timelines(owners=[], entry=entries(1)[0])


async def test_replace_rebuilds_a_whole_timeline(timelines: TimelineStore) -> None:
    cap = timelines.cap
    owner, bystander = owners(2)
    await timelines.add_to_timelines(owners=[owner, bystander], entry=entries(1)[0])
    rebuilt = entries(cap + 4)
    await timelines.replace(owner=owner, entries=rebuilt)

    assert await whole(timelines, owner) == rebuilt[::-1][:cap]
    assert await timelines.timeline_sizes(owners=[owner, bystander]) == {owner: cap, bystander: 1}
    await timelines.replace(owner=owner, entries=[])
    assert await timelines.timeline_sizes(owners=[owner]) == {owner: 0}
    assert await whole(timelines, owner) == []
