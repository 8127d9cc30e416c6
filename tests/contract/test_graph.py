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
        b: FollowCounts(followers=1, following=1),
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
