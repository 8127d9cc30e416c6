"""Security review (issue 16), findings 7 and 9, over HTTP against a running `murmur serve`:
weak passwords were accepted at register, and control, format and bidi characters were
stored in display names, bios and posts. Both are refused now, as InvalidInput naming the
field, while emoji sequences, Persian text and combining accents pass and come back NFC."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hostile_server import Served

INVALID = "{ __typename ... on InvalidInput { field message } }"
REGISTER = f"mutation($u: String!, $p: String!) {{ register(username: $u, password: $p) {INVALID} }}"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { __typename } }"
PROFILE = (
    "mutation($n: String, $b: String) { updateProfile(displayName: $n, bio: $b) "
    "{ __typename ... on ProfilePayload { user { displayName bio } } ... on InvalidInput { field message } } }"
)
POST = (
    "mutation($b: String!) { createPost(body: $b) "
    "{ __typename ... on PostPayload { post { id body } } ... on InvalidInput { field message } } }"
)

_names = itertools.count()


def fresh(prefix: str) -> str:
    """A username not yet taken on the module's shared server."""
    return f"{prefix}_{next(_names)}"


@pytest.fixture(scope="module")
def token(server: Served) -> str:
    """One account for the module's profile and post tests: registrations from one address
    have a budget (MURMUR_RATE_LIMIT__REGISTER_PER_IP), and a refused edit changes nothing."""
    return server.register(fresh("writer"))[0]


def answer(server: Served, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    response = server.post(query, token=token, **variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    (result,) = body["data"].values()
    assert isinstance(result, dict)
    return result


def assert_refused(result: dict[str, Any], field: str) -> None:
    assert result["__typename"] == "InvalidInput", result
    assert result["field"] == field and result["message"], result


@pytest.mark.parametrize("password", ["password", "12345678", " " * 8, "PASSWORD1", "\u200b" * 8])
def test_weak_passwords_are_refused(server: Served, password: str) -> None:
    assert_refused(answer(server, REGISTER, u=fresh("weak"), p=password), "password")


def test_the_username_is_no_password(server: Served) -> None:
    name = fresh("victim")
    for password in (name, name.upper(), f"{name}1", f"{name}{name}"):
        assert_refused(answer(server, REGISTER, u=name, p=password), "password")
    server.register(name, "correct-horse-battery")  # the name is still free for a good password


def test_seeded_accounts_with_weak_passwords_still_log_in(start_server: Callable[..., Served]) -> None:
    """Login applies no policy: accounts made before it (here a demo world seeded with a weak
    password) keep working, while registering that password is refused."""
    seeded = start_server(
        {
            "MURMUR_SEED__ENABLED": "true",
            "MURMUR_SEED__USERS": "2",
            "MURMUR_SEED__POSTS_PER_USER": "0",
            "MURMUR_SEED__DEMO_PASSWORD": "password",
        }
    )
    assert_refused(answer(seeded, REGISTER, u="newcomer", p="password"), "password")
    assert answer(seeded, LOGIN, u="demo", p="password")["__typename"] == "AuthPayload"


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"n": "\u200b\u200b"}, "displayName"),  # an invisible name
        ({"n": "admin\u202e"}, "displayName"),
        ({"n": "\u3164"}, "displayName"),  # a blank-looking letter alone
        ({"b": "nul\x00byte"}, "bio"),
        ({"b": "\x1b[31mred\x1b[0m"}, "bio"),  # ANSI escapes, which colour a log or a terminal
        ({"b": "see \u202egnp.exe"}, "bio"),  # right-to-left override
    ],
)
def test_hidden_characters_in_a_profile_are_refused(
    server: Served, token: str, variables: dict[str, str], field: str
) -> None:
    assert_refused(answer(server, PROFILE, token, **variables), field)


@pytest.mark.parametrize(
    "body",
    ["nul\x00byte", "\u202eright-to-left override", "an \u2067isolate\u2069 here", "\u200f", "bom\ufeff"],
)
def test_hidden_characters_in_a_post_are_refused(server: Served, token: str, body: str) -> None:
    assert_refused(answer(server, POST, token, b=body), "body")


@pytest.mark.parametrize(
    "text",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # emoji joined by ZWJ
        "\u2764\ufe0f\u200d\U0001f525 \U0001f469\U0001f3fd\u200d\U0001f4bb",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, ZWNJ inside the word
        "Ame\u0301lie Cafe\u0301",  # accents as combining marks
    ],
)
def test_real_writing_passes_and_comes_back_composed(server: Served, token: str, text: str) -> None:
    stored = unicodedata.normalize("NFC", text)
    profile = answer(server, PROFILE, token, n=text, b=f"{text}\r\nsecond line")
    assert profile["user"] == {"displayName": stored, "bio": f"{stored}\nsecond line"}, profile
    post = answer(server, POST, token, b=text)
    assert post["post"]["body"] == stored, post
    read = answer(server, "query($id: ID!) { post(id: $id) { body } }", id=post["post"]["id"])
    assert read == {"body": stored}
