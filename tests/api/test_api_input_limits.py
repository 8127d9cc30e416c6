"""Every length limit at its boundaries (issue 18): the minimum and the maximum pass, one
past either end answers InvalidInput naming the field, through the gateway schema. Lengths
are code points after cleaning (NFC, trimmed), as README's "Limits" table says."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Client

from murmur.domain import Limits

# README, "Limits": username 3-30, password 8-128, display name 1-50, bio 0-280, post 1-500
DOCUMENTED = Limits(
    username_min=3,
    username_max=30,
    password_min=8,
    password_max=128,
    display_name_max=50,
    bio_max=280,
    body_max=500,
)
# a password that is neither common nor built from a username, cut or repeated to length
PASSWORD_PATTERN = "Zq7-Kp2!"

RESULT = "{ __typename ... on Error { message } ... on InvalidInput { field } }"
REGISTER = (
    "mutation($u: String!, $p: String!, $n: String) "
    f"{{ register(username: $u, password: $p, displayName: $n) {RESULT} }}"
)
LOGIN = f"mutation($u: String!, $p: String!) {{ login(username: $u, password: $p) {RESULT} }}"
POST = (
    "mutation($b: String!) { createPost(body: $b) "
    "{ __typename ... on PostPayload { post { body } } ... on InvalidInput { field message } } }"
)
PROFILE = (
    "mutation($n: String, $b: String) { updateProfile(displayName: $n, bio: $b) "
    "{ __typename ... on ProfilePayload { user { displayName bio } } ... on InvalidInput { field message } } }"
)


def password(length: int) -> str:
    return (PASSWORD_PATTERN * (length // len(PASSWORD_PATTERN) + 1))[:length]


async def payload(client: Client, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    (answer,) = (await client.data(query, token, **variables)).values()
    assert isinstance(answer, dict)
    return answer


def refused(answer: dict[str, Any], field: str) -> bool:
    return bool(answer["__typename"] == "InvalidInput" and answer["field"] == field)


def test_the_limits_are_the_documented_ones(client: Client) -> None:
    assert client.platform.limits == DOCUMENTED


@pytest.mark.parametrize(
    ("length", "passes"),
    [
        (DOCUMENTED.username_min - 1, False),
        (DOCUMENTED.username_min, True),
        (DOCUMENTED.username_max, True),
        (DOCUMENTED.username_max + 1, False),
    ],
)
async def test_username_length(client: Client, length: int, passes: bool) -> None:
    answer = await payload(client, REGISTER, u="u" * length, p=password(12))
    if passes:
        assert answer["__typename"] == "AuthPayload", answer
    else:
        assert refused(answer, "username"), answer
        assert "3-30" in answer["message"]


@pytest.mark.parametrize(
    ("length", "passes"),
    [
        (DOCUMENTED.password_min - 1, False),
        (DOCUMENTED.password_min, True),
        (DOCUMENTED.password_max, True),
        (DOCUMENTED.password_max + 1, False),
    ],
)
async def test_password_length(client: Client, length: int, passes: bool) -> None:
    answer = await payload(client, REGISTER, u="boundary", p=password(length))
    if passes:
        assert answer["__typename"] == "AuthPayload", answer
    else:
        assert refused(answer, "password"), answer
        assert "8-128 characters" in answer["message"]


async def test_the_longest_username_and_password_log_in(client: Client) -> None:
    """Login skips the store for what no account can have (longer than either maximum), so
    its bounds must be the same as register's: the longest ones still log in."""
    username, secret = "u" * DOCUMENTED.username_max, password(DOCUMENTED.password_max)
    await client.register(username, secret)
    assert (await payload(client, LOGIN, u=username.upper(), p=secret))["__typename"] == "AuthPayload"
    assert (await payload(client, LOGIN, u=username + "u", p=secret))["__typename"] == "InvalidCredentials"
    assert (await payload(client, LOGIN, u=username, p=secret + "x"))["__typename"] == "InvalidCredentials"


async def test_a_user_is_found_by_the_longest_username(client: Client) -> None:
    _, user_id = await client.register("u" * DOCUMENTED.username_max)
    query = "query($u: String!) { user(username: $u) { id } }"
    assert await client.data(query, u="u" * DOCUMENTED.username_max) == {"user": {"id": user_id}}
    assert await client.data(query, u="u" * (DOCUMENTED.username_max + 1)) == {"user": None}


@pytest.mark.parametrize(
    ("length", "passes"),
    [(0, False), (1, True), (DOCUMENTED.display_name_max, True), (DOCUMENTED.display_name_max + 1, False)],
)
async def test_display_name_length_at_register_and_in_a_profile(
    client: Client, length: int, passes: bool
) -> None:
    name = "n" * length
    registered = await payload(client, REGISTER, u="named", p=password(12), n=name)
    token, _ = await client.register("renamed")
    profile = await payload(client, PROFILE, token, n=name)
    if passes:
        assert registered["__typename"] == "AuthPayload", registered
        assert profile["user"]["displayName"] == name
    else:
        assert refused(registered, "displayName"), registered
        assert refused(profile, "displayName"), profile


@pytest.mark.parametrize(
    ("length", "passes"), [(0, True), (DOCUMENTED.bio_max, True), (DOCUMENTED.bio_max + 1, False)]
)
async def test_bio_length(client: Client, length: int, passes: bool) -> None:
    token, _ = await client.register("biographer")
    profile = await payload(client, PROFILE, token, b="b" * length)
    if passes:
        assert profile["user"]["bio"] == "b" * length
    else:
        assert refused(profile, "bio"), profile
        assert "at most 280" in profile["message"]


@pytest.mark.parametrize(
    ("body", "passes"),
    [
        pytest.param("", False, id="empty"),
        pytest.param("x", True, id="one"),
        pytest.param("x" * DOCUMENTED.body_max, True, id="max"),
        pytest.param("x" * (DOCUMENTED.body_max + 1), False, id="max+1"),
        # code points, not bytes or UTF-16 units: 500 emoji are 2,000 bytes
        pytest.param("\U0001f600" * DOCUMENTED.body_max, True, id="max-emoji"),
        pytest.param("\U0001f600" * (DOCUMENTED.body_max + 1), False, id="max+1-emoji"),
        # after cleaning: 1,000 code points typed, 500 once composed; blank ends trimmed
        pytest.param("e\u0301" * DOCUMENTED.body_max, True, id="max-composed"),
        pytest.param("  " + "x" * DOCUMENTED.body_max + "\n\n", True, id="max-trimmed"),
    ],
)
async def test_post_body_length(client: Client, body: str, passes: bool) -> None:
    token, _ = await client.register("poster")
    answer = await payload(client, POST, token, b=body)
    if passes:
        assert answer["__typename"] == "PostPayload", answer
        assert len(answer["post"]["body"]) <= DOCUMENTED.body_max
    else:
        assert refused(answer, "body"), answer
