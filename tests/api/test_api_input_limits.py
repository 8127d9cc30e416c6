"""Every length limit at its boundaries (issue 18): the minimum and the maximum pass, one
past either end is refused. User input answers InvalidInput naming the field, through the
gateway schema; lengths are code points after cleaning (NFC, trimmed), as README's "Limits"
table says. Then the limits on a request: tokens, depth, aliases, page size, cost, body bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Client, make_settings, running_app
from graphql import Lexer, Source, TokenKind

from api.schema import build_schema
from murmur.domain import Limits
from murmur.platform import Platform

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
        assert answer == {
            "__typename": "InvalidInput",
            "field": "username",
            "message": "A username is 3-30 letters, digits or underscores.",
        }


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
        message = (
            "A display name cannot be empty." if length == 0 else "A display name is at most 50 characters."
        )
        assert registered == {"__typename": "InvalidInput", "field": "displayName", "message": message}
        assert profile == {"__typename": "InvalidInput", "field": "displayName", "message": message}


@pytest.mark.parametrize(
    ("length", "passes"), [(0, True), (DOCUMENTED.bio_max, True), (DOCUMENTED.bio_max + 1, False)]
)
async def test_bio_length(client: Client, length: int, passes: bool) -> None:
    token, _ = await client.register("biographer")
    profile = await payload(client, PROFILE, token, b="b" * length)
    if passes:
        assert profile["user"]["bio"] == "b" * length
    else:
        assert profile == {
            "__typename": "InvalidInput",
            "field": "bio",
            "message": "A bio is at most 280 characters.",
        }


async def test_a_bio_keeps_its_lines_and_a_display_name_is_one_line(client: Client) -> None:
    """Issue 18: a bio is multiline (newlines and tabs kept, CRLF made LF, the ends trimmed);
    a display name is a single line, where a newline is a control character."""
    token, _ = await client.register("liner")
    profile = await payload(client, PROFILE, token, b="  first line\r\n\tsecond line \n")
    assert profile == {
        "__typename": "ProfilePayload",
        "user": {"displayName": "liner", "bio": "first line\n\tsecond line"},
    }
    refused_name = await payload(client, PROFILE, token, n="two\nlines")
    assert refused_name["__typename"] == "InvalidInput" and refused_name["field"] == "displayName"
    assert refused_name["message"].startswith(
        "A display name cannot contain the invisible or control character "
    )


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


# --- the limits on what a request may ask (api/validation.py, api/cost.py, api/relay.py,
# api/body_limit.py): the limit itself passes, one more is refused ---


def tokens(document: str) -> int:
    """The tokens graphql-core counts against max_tokens (every token before the end)."""
    lexer, count = Lexer(Source(document)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


async def test_a_document_of_exactly_max_tokens_runs(tmp_path: Path, platform: Platform) -> None:
    client = Client(build_schema(make_settings(tmp_path, api={"max_tokens": 50})), platform)
    fields = " ".join(["__typename"] * 20)
    user = "id username displayName bio createdAt"
    at_limit = f"{{ {fields} viewer {{ {fields} {user} }} }}"
    assert tokens(at_limit) == 50
    assert (await client.data(at_limit))["viewer"] is None
    over = at_limit.replace("bio", "bio followingCount")
    assert tokens(over) == 51
    result = await client.execute(over)
    assert result.errors is not None
    assert "more than 50 tokens" in result.errors[0].message


def following(depth: int) -> str:
    """{ viewer { ... } } exactly `depth` deep: fields with a selection set count, leaves do not."""
    levels, rest = divmod(depth - 1, 3)
    inner = ["id", "followers(first: 1) { __typename }", "followers(first: 1) { edges { cursor } }"][rest]
    for _ in range(levels):
        inner = f"following(first: 1) {{ edges {{ node {{ {inner} }} }} }}"
    return f"{{ viewer {{ {inner} }} }}"


async def test_depth_at_the_limit_runs_and_one_more_is_refused(client: Client) -> None:
    token, _ = await client.register("deep")
    assert (await client.execute(following(12), token)).errors is None
    refused = await client.execute(following(13), token)
    assert refused.errors is not None
    assert refused.errors[0].message == "'anonymous' exceeds maximum operation depth of 12"


async def test_aliases_at_the_limit_run_and_one_more_is_refused(client: Client) -> None:
    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"

    assert (await client.execute(aliased(20))).errors is None
    refused = await client.execute(aliased(21))
    assert refused.errors is not None and refused.errors[0].message == "21 aliases found. Allowed: 20"


async def test_a_page_of_the_maximum_size_is_served(client: Client) -> None:
    token, user_id = await client.register("pager")
    query = (
        "query($id: ID!, $first: Int) { timeline(first: $first) { edges { cursor } } "
        "user(id: $id) { followers(first: $first) { edges { cursor } } } }"
    )
    assert (await client.execute(query, token, id=user_id, first=100)).errors is None
    refused = await client.execute(query, token, id=user_id, first=101)
    assert refused.errors is not None
    assert refused.errors[0].message == "`first` must be between 0 and 100."


async def test_an_operation_costing_exactly_the_budget_runs(client: Client) -> None:
    """1 + 5 + 97 * (2 + 5 + 96) = 9,997 for the nested pages, 1 for each aliased viewer."""
    token, _ = await client.register("thrifty")
    pages = "viewer { followers(first: 97) { edges { node { followers(first: 96) { edges { cursor } } } } } }"

    def costing(viewers: int) -> str:
        return "{ " + pages + " " + " ".join(f"v{i}: viewer {{ id }}" for i in range(viewers)) + " }"

    assert (await client.execute(costing(3), token)).errors is None
    refused = await client.execute(costing(4), token)
    assert refused.errors is not None
    assert refused.errors[0].extensions == {"code": "COST_LIMIT_EXCEEDED", "cost": 10_001, "budget": 10_000}


async def test_a_body_of_exactly_max_bytes_is_read(tmp_path: Path) -> None:
    """Declared (Content-Length) or streamed (chunked, counted as it arrives)."""

    def body(size: int) -> bytes:
        start = b'{"query": "{ __typename }"'
        return start + b" " * (size - len(start) - 1) + b"}"

    async def streamed(data: bytes) -> AsyncIterator[bytes]:
        for at in range(0, len(data), 100):
            yield data[at : at + 100]

    settings = make_settings(tmp_path, api={"max_body_bytes": 1024})
    headers = {"content-type": "application/json"}
    async with running_app(settings) as (_, http):
        exact, over = body(1024), body(1025)
        assert len(exact) == 1024 and len(over) == 1025
        assert (await http.post("/graphql", content=exact, headers=headers)).json() == {
            "data": {"__typename": "Query"}
        }
        assert (await http.post("/graphql", content=over, headers=headers)).status_code == 413
        chunked = await http.post("/graphql", content=streamed(exact), headers=headers)
        assert chunked.json() == {"data": {"__typename": "Query"}}
        assert (await http.post("/graphql", content=streamed(over), headers=headers)).status_code == 413
