"""Mutations answer expected failures as typed union members, never as GraphQL errors."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Client

ERROR = "{ __typename ... on Error { message } }"
INVALID = "{ __typename ... on Error { message } ... on InvalidInput { field } }"


async def typename(
    client: Client, mutation: str, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    data = await client.data(mutation, token, **variables)
    (payload,) = data.values()
    assert isinstance(payload, dict)
    return payload


async def test_register_then_login(client: Client) -> None:
    _, user_id = await client.register("grace", "hopper-1906")
    login = await typename(
        client,
        'mutation { login(username: "GRACE", password: "hopper-1906") '
        "{ __typename ... on AuthPayload { token user { id username } } } }",
    )
    assert login["__typename"] == "AuthPayload"
    assert login["user"] == {"id": user_id, "username": "grace"}
    viewer = await client.data("{ viewer { id } }", login["token"])
    assert viewer == {"viewer": {"id": user_id}}


@pytest.mark.parametrize(
    ("mutation", "expected", "field"),
    [
        ('register(username: "ab", password: "long-enough")', "InvalidInput", "username"),
        ('register(username: "has space", password: "long-enough")', "InvalidInput", "username"),
        ('register(username: "newbie", password: "short")', "InvalidInput", "password"),
        (
            'register(username: "newbie", password: "long-enough", displayName: "   ")',
            "InvalidInput",
            "displayName",
        ),
        ('register(username: "Taken", password: "long-enough")', "UsernameTaken", None),
        ('login(username: "taken", password: "wrong-password")', "InvalidCredentials", None),
        ('login(username: "nobody", password: "long-enough")', "InvalidCredentials", None),
    ],
)
async def test_account_errors(client: Client, mutation: str, expected: str, field: str | None) -> None:
    await client.register("taken")
    payload = await typename(
        client, f"mutation {{ {mutation} {INVALID if 'register' in mutation else ERROR} }}"
    )
    assert payload["__typename"] == expected
    assert payload["message"]
    assert payload.get("field") == field


@pytest.mark.parametrize(
    "mutation",
    [
        'createPost(body: "hello")',
        'deletePost(id: "1")',
        'follow(userId: "1")',
        'unfollow(userId: "1")',
        'updateProfile(bio: "hi")',
    ],
)
@pytest.mark.parametrize(("token", "error"), [(None, "NotAuthenticated"), ("not-a-token", "InvalidToken")])
async def test_writes_need_a_login(client: Client, mutation: str, token: str | None, error: str) -> None:
    payload = await typename(client, f"mutation {{ {mutation} {ERROR} }}", token)
    assert payload["__typename"] == error


@pytest.mark.parametrize(
    ("body", "message"),
    [("   ", "cannot be empty"), ("x" * 501, "at most 500")],
)
async def test_post_body_is_checked(client: Client, body: str, message: str) -> None:
    token, _ = await client.register("writer")
    payload = await typename(
        client, f"mutation($b: String!) {{ createPost(body: $b) {INVALID} }}", token, b=body
    )
    assert payload["__typename"] == "InvalidInput"
    assert payload["field"] == "body"
    assert message in payload["message"]


async def test_create_and_delete_post(client: Client) -> None:
    token, user_id = await client.register("author")
    created = await typename(
        client,
        'mutation { createPost(body: "  first post  ") { ... on PostPayload { post { id body author { id } } } } }',
        token,
    )
    post = created["post"]
    assert post["body"] == "first post"
    assert post["author"] == {"id": user_id}
    deleted = await typename(
        client,
        "mutation($id: ID!) { deletePost(id: $id) { ... on DeletePostPayload { postId } } }",
        token,
        id=post["id"],
    )
    assert deleted == {"postId": post["id"]}
    assert await client.data("query($id: ID!) { post(id: $id) { id } }", id=post["id"]) == {"post": None}
    again = await typename(
        client, f"mutation($id: ID!) {{ deletePost(id: $id) {ERROR} }}", token, id=post["id"]
    )
    assert again["__typename"] == "NotFound"


async def test_only_the_author_deletes(client: Client) -> None:
    author, _ = await client.register("author")
    other, _ = await client.register("other")
    created = await typename(
        client, 'mutation { createPost(body: "mine") { ... on PostPayload { post { id } } } }', author
    )
    post_id = created["post"]["id"]
    payload = await typename(
        client, f"mutation($id: ID!) {{ deletePost(id: $id) {ERROR} }}", other, id=post_id
    )
    assert payload["__typename"] == "NotPostAuthor"
    assert await client.data("query($id: ID!) { post(id: $id) { id } }", id=post_id) == {
        "post": {"id": post_id}
    }


@pytest.mark.parametrize("post_id", ["123456", "not-a-number", ""])
async def test_deleting_an_unknown_post(client: Client, post_id: str) -> None:
    token, _ = await client.register("author")
    payload = await typename(
        client, f"mutation($id: ID!) {{ deletePost(id: $id) {ERROR} }}", token, id=post_id
    )
    assert payload["__typename"] == "NotFound"


async def test_follow_and_unfollow(client: Client) -> None:
    fan, fan_id = await client.register("fan")
    _, star_id = await client.register("star")
    selection = "{ __typename ... on FollowPayload { user { id followerCount viewerFollows } } }"
    followed = await typename(
        client, f"mutation($id: ID!) {{ follow(userId: $id) {selection} }}", fan, id=star_id
    )
    assert followed["user"] == {"id": star_id, "followerCount": 1, "viewerFollows": True}
    again = await typename(
        client, f"mutation($id: ID!) {{ follow(userId: $id) {selection} }}", fan, id=star_id
    )
    assert again["user"]["followerCount"] == 1  # following twice is no error and no second edge
    counts = await client.data("query($id: ID!) { user(id: $id) { followingCount } }", id=fan_id)
    assert counts == {"user": {"followingCount": 1}}
    unfollowed = await typename(
        client, f"mutation($id: ID!) {{ unfollow(userId: $id) {selection} }}", fan, id=star_id
    )
    assert unfollowed["user"] == {"id": star_id, "followerCount": 0, "viewerFollows": False}


async def test_follow_errors(client: Client) -> None:
    token, user_id = await client.register("loner")
    mutation = f"mutation($id: ID!) {{ follow(userId: $id) {ERROR} }}"
    assert (await typename(client, mutation, token, id=user_id))["__typename"] == "CannotFollowSelf"
    for unknown in ("424242", "nobody", "-1"):
        assert (await typename(client, mutation, token, id=unknown))["__typename"] == "NotFound"
    unfollow = f"mutation($id: ID!) {{ unfollow(userId: $id) {ERROR} }}"
    assert (await typename(client, unfollow, token, id="424242"))["__typename"] == "NotFound"


async def test_update_profile(client: Client) -> None:
    token, _ = await client.register("changer")
    updated = await typename(
        client,
        'mutation { updateProfile(displayName: "  New   Name ", bio: "Hello there") '
        "{ ... on ProfilePayload { user { displayName bio } } } }",
        token,
    )
    assert updated == {"user": {"displayName": "New Name", "bio": "Hello there"}}
    assert await client.data("{ viewer { displayName bio } }", token) == {
        "viewer": {"displayName": "New Name", "bio": "Hello there"}
    }
    too_long = await typename(
        client, f"mutation($b: String!) {{ updateProfile(bio: $b) {INVALID} }}", token, b="x" * 281
    )
    assert (too_long["__typename"], too_long["field"]) == ("InvalidInput", "bio")
