"""FollowGraph contract: edges, counts, and newest-first paging of both directions."""

from __future__ import annotations

import pytest
from contract_helpers import all_pages, new_id

from murmur.domain import InvalidInput, Page, UserId
from murmur.storage.base import FollowCounts, FollowGraph


def users(n: int) -> list[UserId]:
    return [UserId(new_id()) for _ in range(n)]


async def test_follow_is_new_once(graph: FollowGraph) -> None:
    a, b = users(2)
    assert await graph.follow(follower=a, followee=b) is True
    assert await graph.follow(follower=a, followee=b) is False
    assert await graph.follows(follower=a, followees=[b]) == {b}
    assert await graph.follows(follower=b, followees=[a]) == set()  # edges have a direction


async def test_unfollow_removes_the_edge_once(graph: FollowGraph) -> None:
    a, b = users(2)
    await graph.follow(follower=a, followee=b)
    assert await graph.unfollow(follower=a, followee=b) is True
    assert await graph.unfollow(follower=a, followee=b) is False
    assert await graph.follows(follower=a, followees=[b]) == set()
    assert await graph.unfollow(follower=b, followee=a) is False


async def test_follows_answers_which_of_many(graph: FollowGraph) -> None:
    me, *others = users(101)
    for other in others[::2]:
        await graph.follow(follower=me, followee=other)

    assert await graph.follows(follower=me, followees=others) == set(others[::2])
    assert await graph.follows(follower=me, followees=[]) == set()
    assert await graph.follows(follower=me, followees=[UserId("junk")]) == set()


async def test_counts_follow_every_change(graph: FollowGraph) -> None:
    a, b, c = users(3)
    await graph.follow(follower=a, followee=b)
    await graph.follow(follower=c, followee=b)
    await graph.follow(follower=b, followee=a)
    await graph.follow(follower=a, followee=b)  # again: no change
    await graph.unfollow(follower=c, followee=b)
    await graph.unfollow(follower=c, followee=b)  # again: no change

    stranger = UserId(new_id())
    assert await graph.follow_counts(user_ids=[a, b, c, stranger]) == {
        a: FollowCounts(followers=1, following=1),
        b: FollowCounts(followers=1, following=1, unfollows=1),
        c: FollowCounts(followers=0, following=0),
        stranger: FollowCounts(followers=0, following=0),
    }


async def test_followers_come_newest_first_in_pages(graph: FollowGraph) -> None:
    star, *fans = users(26)
    for fan in fans:
        await graph.follow(follower=fan, followee=star)

    pages = await all_pages(lambda after: graph.followers(user_id=star, after=after, limit=7))
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [u for page in pages for u in page] == fans[::-1]
    assert (await graph.follow_counts(user_ids=[star]))[star].followers == 25


async def test_following_comes_newest_first_in_pages(graph: FollowGraph) -> None:
    me, *stars = users(11)
    for star in stars:
        await graph.follow(follower=me, followee=star)

    pages = await all_pages(lambda after: graph.following(user_id=me, after=after, limit=5))
    assert [u for page in pages for u in page] == stars[::-1]
    assert (await graph.follow_counts(user_ids=[me]))[me].following == 10


async def test_an_exact_last_page_has_no_cursor(graph: FollowGraph) -> None:
    star, *fans = users(7)
    for fan in fans:
        await graph.follow(follower=fan, followee=star)

    first = await graph.followers(user_id=star, after=None, limit=3)
    second = await graph.followers(user_id=star, after=first.next_cursor, limit=3)
    assert second.next_cursor is None
    assert len(first.items) + len(second.items) == 6
    assert await graph.followers(user_id=UserId(new_id()), after=None, limit=3) == Page(items=[])


async def test_paging_is_stable_while_edges_are_added_and_removed(graph: FollowGraph) -> None:
    star, *fans = users(13)
    for fan in fans[:10]:
        await graph.follow(follower=fan, followee=star)

    first = await graph.followers(user_id=star, after=None, limit=4)
    assert first.items == fans[9:5:-1]
    # new followers arrive at the head; one already listed leaves: later pages neither
    # repeat nor skip anyone who was there all along
    for fan in fans[10:]:
        await graph.follow(follower=fan, followee=star)
    await graph.unfollow(follower=fans[9], followee=star)
    rest = await all_pages(
        lambda after: graph.followers(user_id=star, after=after or first.next_cursor, limit=4)
    )
    assert [u for page in rest for u in page] == fans[5::-1]


async def test_following_again_moves_an_edge_to_the_head(graph: FollowGraph) -> None:
    star, a, b = users(3)
    await graph.follow(follower=a, followee=star)
    await graph.follow(follower=b, followee=star)
    await graph.unfollow(follower=a, followee=star)
    await graph.follow(follower=a, followee=star)

    assert (await graph.followers(user_id=star, after=None, limit=10)).items == [a, b]


async def test_a_malformed_cursor_is_invalid_input(graph: FollowGraph) -> None:
    with pytest.raises(InvalidInput):
        await graph.followers(user_id=UserId(new_id()), after="not a cursor", limit=3)


# --- fan-out: spans of followers, and the re-check after writing ------------------------


async def all_in_spans(graph: FollowGraph, user: UserId, size: int) -> list[list[UserId]]:
    return [
        await graph.followers_in(user_id=user, span=span)
        for span in await graph.follower_spans(user_id=user, size=size)
    ]


async def test_spans_cut_the_followers_into_parts_of_about_the_size(graph: FollowGraph) -> None:
    star, *fans = users(26)
    for fan in fans:
        await graph.follow(follower=fan, followee=star)

    parts = await all_in_spans(graph, star, 10)
    assert sorted(f for part in parts for f in part) == sorted(fans)  # each follower once
    assert len(parts) >= 3
    assert all(len(part) <= 2 * 10 for part in parts)
    assert [sorted(part) for part in await all_in_spans(graph, star, 1000)] == [sorted(fans)]
    singles = await all_in_spans(graph, star, 1)
    assert sorted(f for part in singles for f in part) == sorted(fans)  # however small the size


async def test_a_user_with_no_followers_has_no_spans(graph: FollowGraph) -> None:
    (loner,) = users(1)
    assert await graph.follower_spans(user_id=loner, size=10) == []
    assert await graph.follower_spans(user_id=UserId("junk"), size=10) == []


async def test_a_span_drops_followers_who_left(graph: FollowGraph) -> None:
    star, *fans = users(13)
    for fan in fans:
        await graph.follow(follower=fan, followee=star)
    spans = await graph.follower_spans(user_id=star, size=4)
    await graph.unfollow(follower=fans[0], followee=star)
    await graph.unfollow(follower=fans[-1], followee=star)
    late = users(1)[0]
    await graph.follow(follower=late, followee=star)

    read = [f for span in spans for f in await graph.followers_in(user_id=star, span=span)]
    assert set(fans[1:-1]) <= set(read) <= set(fans[1:-1]) | {late}
    assert fans[0] not in read and fans[-1] not in read


async def test_followers_among_answers_which_candidates_follow(graph: FollowGraph) -> None:
    star, a, b, c = users(4)
    await graph.follow(follower=a, followee=star)
    await graph.follow(follower=c, followee=star)
    await graph.follow(follower=star, followee=b)  # the other direction does not count

    assert await graph.followers_among(user_id=star, candidates=[a, b, c, UserId("junk")]) == {a, c}
    assert await graph.followers_among(user_id=star, candidates=[]) == set()


async def test_unfollows_only_ever_grow(graph: FollowGraph) -> None:
    star, fan = users(2)
    for _ in range(3):
        await graph.follow(follower=fan, followee=star)
        await graph.unfollow(follower=fan, followee=star)
    await graph.follow(follower=fan, followee=star)

    counts = (await graph.follow_counts(user_ids=[star]))[star]
    assert (counts.followers, counts.unfollows) == (1, 3)


async def test_follow_many_adds_new_edges_once_and_keeps_counts(graph: FollowGraph) -> None:
    star, *fans = users(6)
    assert await graph.follow_many(pairs=[(fan, star) for fan in fans]) == 5
    assert await graph.follow_many(pairs=[(fans[0], star), (star, fans[0])]) == 1  # one repeat, one new

    counts = await graph.follow_counts(user_ids=[star, fans[0], fans[1]])
    assert (counts[star].followers, counts[star].following) == (5, 1)
    assert (counts[fans[0]].followers, counts[fans[0]].following) == (1, 1)
    assert await graph.followers_among(user_id=star, candidates=fans) == set(fans)
    spans = await graph.follower_spans(user_id=star, size=2)
    found = [fan for span in spans for fan in await graph.followers_in(user_id=star, span=span)]
    assert sorted(found) == sorted(fans)
