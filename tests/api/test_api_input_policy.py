"""Weak passwords and hidden characters are refused through the API (security review, issue
16, findings 7 and 9), as typed InvalidInput results naming the field; real writing passes."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from api_helpers import Client

import murmur.accounts

INVALID = "{ __typename ... on Error { message } ... on InvalidInput { field } }"
REGISTER = f"mutation($u: String!, $p: String!) {{ register(username: $u, password: $p) {INVALID} }}"
POST = (
    "mutation($b: String!) { createPost(body: $b) "
    "{ __typename ... on PostPayload { post { id body } } ... on InvalidInput { field message } } }"
)
PROFILE = (
    "mutation($n: String, $b: String) { updateProfile(displayName: $n, bio: $b) "
    "{ __typename ... on ProfilePayload { user { displayName bio } } ... on InvalidInput { field message } } }"
)

# emoji ZWJ sequences, Persian with ZWNJ, and an accent typed as a combining mark (stored composed)
WRITING = (
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 Cafe\u0301"
)


async def payload(client: Client, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    (answer,) = (await client.data(query, token, **variables)).values()
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize(
    ("username", "password"),
    [("weakling", "password"), ("weakling", "12345678"), ("weakling", " " * 8), ("weakling", "Weakling")],
)
async def test_weak_passwords_are_refused_at_register(client: Client, username: str, password: str) -> None:
    answer = await payload(client, REGISTER, u=username, p=password)
    assert (answer["__typename"], answer["field"]) == ("InvalidInput", "password")
    assert answer["message"]


async def test_login_does_not_apply_the_policy(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(murmur.accounts, "check_new_password", lambda *a, **k: None, raising=False)
    await client.register("veteran", "password")  # an account made before the policy
    monkeypatch.undo()
    refused = await payload(client, REGISTER, u="newcomer", p="password")
    assert refused["__typename"] == "InvalidInput"
    login = await payload(
        client, 'mutation { login(username: "veteran", password: "password") { __typename } }'
    )
    assert login["__typename"] == "AuthPayload"


@pytest.mark.parametrize(
    ("display_name", "bio", "field"),
    [
        ("\u200b\u200b", None, "displayName"),
        ("\u202eevil", None, "displayName"),
        ("\u3164", None, "displayName"),
        (None, "nul\x00here", "bio"),
        (None, "\x1b[31mred", "bio"),
        (None, "reads \u202ebackwards", "bio"),
    ],
)
async def test_hidden_characters_in_a_profile_are_refused(
    client: Client, display_name: str | None, bio: str | None, field: str
) -> None:
    token, _ = await client.register("changer")
    answer = await payload(client, PROFILE, token, n=display_name, b=bio)
    assert (answer["__typename"], answer["field"]) == ("InvalidInput", field)
    assert (await client.data("{ viewer { displayName bio } }", token))["viewer"] == {
        "displayName": "changer",
        "bio": "",
    }


@pytest.mark.parametrize("body", ["nul\x00here", "a \u202eright-to-left override", "an \u2066isolate\u2069"])
async def test_hidden_characters_in_a_post_are_refused(client: Client, body: str) -> None:
    token, _ = await client.register("writer")
    answer = await payload(client, POST, token, b=body)
    assert (answer["__typename"], answer["field"]) == ("InvalidInput", "body")


async def test_real_writing_passes_and_comes_back_composed(client: Client) -> None:
    token, _ = await client.register("writer")
    stored = unicodedata.normalize("NFC", WRITING)
    assert stored != WRITING  # the accent arrives decomposed
    profile = await payload(client, PROFILE, token, n=WRITING, b=f"{WRITING}\r\nline two")
    assert profile["user"] == {"displayName": stored, "bio": f"{stored}\nline two"}
    post = await payload(client, POST, token, b=WRITING)
    assert post["post"]["body"] == stored
    await client.settle()
    timeline = await client.data("{ timeline(first: 5) { edges { node { body } } } }", token)
    assert timeline["timeline"]["edges"] == [{"node": {"body": stored}}]
