"""Relay connections: opaque cursors, page sizes, and the timeline cap under paging."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Client, make_settings

from api.relay import encode_cursor
from api.schema import build_schema
from murmur.platform import open_platform
from murmur.settings import Strategy

TIMELINE = (
    "query($first: Int, $after: String) { timeline(first: $first, after: $after) "
    "{ edges { cursor node { body } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"
)


async def post(client: Client, token: str, body: str) -> str:
    data = await client.data(
        "mutation($b: String!) { createPost(body: $b) { ... on PostPayload { post { id } } } }", token, b=body
    )
    post_id: str = data["createPost"]["post"]["id"]
    return post_id


async def pages(
    client: Client, token: str, query: str, path: str, first: int, **variables: Any
) -> list[list[str]]:
    """Every page of a connection, following endCursor; each page as the nodes' `body`/`username`."""
    result: list[list[str]] = []
    after = None
    while True:
        data = await client.data(query, token, first=first, after=after, **variables)
        connection = data
        for key in path.split("."):
            connection = connection[key]
        result.append([next(iter(edge["node"].values())) for edge in connection["edges"]])
        info = connection["pageInfo"]
        assert info["hasPreviousPage"] == (after is not None)
        if not info["hasNextPage"]:
            return result
        after = info["endCursor"]
        assert len(result) < 50, "paging does not end"


async def test_timeline_pages_through_everything_once(client: Client) -> None:
    reader, _ = await client.register("reader")
    writer, writer_id = await client.register("writer")
    await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", reader, id=writer_id)
    bodies = [f"post {i}" for i in range(7)]
    for body in bodies:
        await post(client, writer, body)
    await client.settle()
    assert await pages(client, reader, TIMELINE, "timeline", 3) == [
        ["post 6", "post 5", "post 4"],
        ["post 3", "post 2", "post 1"],
        ["post 0"],
    ]


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_paging_stops_at_the_timeline_cap(tmp_path: Any, strategy: Strategy) -> None:
    settings = make_settings(tmp_path, timeline_max=5, fanout=strategy, hybrid_threshold=0)
    async with open_platform(settings) as platform:
        client = Client(build_schema(settings), platform)
        token, _ = await client.register("prolific")
        for i in range(8):
            await post(client, token, f"post {i}")
        await client.settle()
        assert await pages(client, token, TIMELINE, "timeline", 2) == [
            ["post 7", "post 6"],
            ["post 5", "post 4"],
            ["post 3"],
        ]


async def test_user_posts_pages(client: Client) -> None:
    token, user_id = await client.register("writer")
    for i in range(5):
        await post(client, token, f"post {i}")
    query = (
        "query($id: ID!, $first: Int, $after: String) { user(id: $id) { posts(first: $first, after: $after) "
        "{ edges { cursor node { body } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }"
    )
    assert await pages(client, None, query, "user.posts", 2, id=user_id) == [
        ["post 4", "post 3"],
        ["post 2", "post 1"],
        ["post 0"],
    ]


@pytest.mark.parametrize("field", ["followers", "following"])
async def test_follow_lists_page_and_resume_from_any_edge(client: Client, field: str) -> None:
    token, hub_id = await client.register("hub")
    names = [f"user{i}" for i in range(5)]
    for name in names:
        other, other_id = await client.register(name)
        if field == "followers":
            await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", other, id=hub_id)
        else:
            await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", token, id=other_id)
    query = (
        f"query($id: ID!, $first: Int, $after: String) {{ user(id: $id) {{ {field}(first: $first, after: $after) "
        "{ edges { cursor node { username } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }"
    )
    everything = [
        name for page in await pages(client, None, query, f"user.{field}", 2, id=hub_id) for name in page
    ]
    assert sorted(everything) == names
    assert everything == list(reversed(names))  # most recent first
    # every edge's cursor resumes right after that edge
    data = await client.data(query, None, id=hub_id, first=5, after=None)
    edges = data["user"][field]["edges"]
    for index, edge in enumerate(edges):
        rest = await client.data(query, None, id=hub_id, first=5, after=edge["cursor"])
        assert [e["node"]["username"] for e in rest["user"][field]["edges"]] == everything[index + 1 :]


async def test_cursors_are_opaque_and_checked(client: Client) -> None:
    token, user_id = await client.register("reader")
    await post(client, token, "one")
    await post(client, token, "two")
    await client.settle()
    timeline = await client.data(TIMELINE, token, first=1)
    timeline_cursor = timeline["timeline"]["pageInfo"]["endCursor"]
    assert "timeline" not in timeline_cursor  # opaque, not a readable id
    posts = await client.data(
        "query($id: ID!) { user(id: $id) { posts(first: 1) { pageInfo { endCursor } } } }", id=user_id
    )
    posts_cursor = posts["user"]["posts"]["pageInfo"]["endCursor"]
    for bad in ("", "garbage", "!!!", posts_cursor, "WyJ2MSIsInRpbWVsaW5lIiwiMSIsLTFd"):
        result = await client.execute(TIMELINE, token, first=1, after=bad)
        assert result.errors is not None, bad
        assert result.errors[0].message.startswith("Invalid cursor"), bad


@pytest.mark.parametrize("first", [-1, 101, 2**31 - 1])
async def test_first_is_bounded(client: Client, first: int) -> None:
    token, user_id = await client.register("reader")
    for query in (
        TIMELINE,
        "query($id: ID!, $first: Int) { user(id: $id) { followers(first: $first) { edges { cursor } } } }",
    ):
        result = await client.execute(query, token, first=first, id=user_id)
        assert result.errors is not None
        assert result.errors[0].message == "`first` must be between 0 and 100."


async def test_first_zero_is_an_empty_page_that_knows_what_follows(client: Client) -> None:
    token, user_id = await client.register("reader")
    for q in (FIRST_ZERO, FOLLOWERS_FIRST_ZERO):
        empty = await client.data(q, token, id=user_id)
        assert [c["pageInfo"]["hasNextPage"] for c in _connections(empty)] == [False], q
    follower, _ = await client.register("follower")
    await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", follower, id=user_id)
    await post(client, token, "one")
    await client.settle()
    for q in (FIRST_ZERO, FOLLOWERS_FIRST_ZERO):
        data = await client.data(q, token, id=user_id)
        assert [(c["edges"], c["pageInfo"]["hasNextPage"]) for c in _connections(data)] == [([], True)], q


FIRST_ZERO = "query { timeline(first: 0) { edges { cursor } pageInfo { hasNextPage } } }"
FOLLOWERS_FIRST_ZERO = (
    "query($id: ID!) { user(id: $id) { followers(first: 0) { edges { cursor } pageInfo { hasNextPage } } } }"
)


def _connections(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [data["timeline"]] if "timeline" in data else [data["user"]["followers"]]


async def test_timeline_needs_a_login(client: Client) -> None:
    result = await client.execute(TIMELINE, None, first=1)
    assert result.errors is not None
    assert "Log in" in result.errors[0].message


async def test_forged_follow_list_cursor_is_a_clean_error(client: Client) -> None:
    _, user_id = await client.register("hub")
    forged = encode_cursor("followers", "not-a-graph-cursor", 0)
    result = await client.execute(
        "query($id: ID!, $after: String) { user(id: $id) { followers(after: $after) { edges { cursor } } } }",
        id=user_id,
        after=forged,
    )
    assert result.errors is not None
    assert result.errors[0].message == "Invalid cursor."  # the store's own answer, not masked
