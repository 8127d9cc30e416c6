"""Reads: viewer, user, post, and the fields every user carries."""

from __future__ import annotations

import pytest
from api_helpers import Client


async def test_viewer_is_null_when_logged_out(client: Client) -> None:
    assert await client.data("{ viewer { id } }") == {"viewer": None}  # a bad token: test_api_tokens


async def test_user_by_id_or_username(client: Client) -> None:
    _, user_id = await client.register("Lovelace")
    by_id = await client.data(
        "query($id: ID!) { user(id: $id) { id username displayName bio createdAt } }", id=user_id
    )
    user = by_id["user"]
    assert (user["id"], user["username"], user["displayName"], user["bio"]) == (
        user_id,
        "Lovelace",
        "Lovelace",
        "",
    )
    assert user["createdAt"].endswith("+00:00")
    by_name = await client.data('{ user(username: "lovelace") { id } }')
    assert by_name == {"user": {"id": user_id}}


@pytest.mark.parametrize(
    "argument", ['id: "999999999"', 'id: "abc"', 'id: ""', 'username: "nobody"', f'username: "{"x" * 200}"']
)
async def test_unknown_user_is_null(client: Client, argument: str) -> None:
    assert await client.data(f"{{ user({argument}) {{ id }} }}") == {"user": None}


@pytest.mark.parametrize("arguments", ["", 'id: "1", username: "a"'])
async def test_user_needs_exactly_one_key(client: Client, arguments: str) -> None:
    result = await client.execute(f"{{ user({arguments}) {{ id }} }}" if arguments else "{ user { id } }")
    assert result.errors is not None
    assert "exactly one" in result.errors[0].message


@pytest.mark.parametrize("post_id", ["12345", "x", ""])
async def test_unknown_post_is_null(client: Client, post_id: str) -> None:
    assert await client.data("query($id: ID!) { post(id: $id) { id } }", id=post_id) == {"post": None}


async def test_viewer_follows(client: Client) -> None:
    fan, fan_id = await client.register("fan")
    _, star_id = await client.register("star")
    await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", fan, id=star_id)
    query = "query($a: ID!, $b: ID!) { a: user(id: $a) { viewerFollows } b: user(id: $b) { viewerFollows } }"
    assert await client.data(query, fan, a=star_id, b=fan_id) == {
        "a": {"viewerFollows": True},
        "b": {"viewerFollows": False},  # yourself
    }
    assert await client.data(query, None, a=star_id, b=fan_id) == {
        "a": {"viewerFollows": False},
        "b": {"viewerFollows": False},
    }
