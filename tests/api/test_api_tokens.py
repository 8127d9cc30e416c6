"""Token trouble is typed: a client can tell "log in" from "log in again", and why."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from api_helpers import Client

from murmur.auth import Tokens

POST = 'mutation { createPost(body: "hi") { __typename ... on InvalidToken { expired message } ... on Error { message } } }'


def _forged(user_id: str) -> str:
    return Tokens(secret="another-secret-that-is-long-enough-000", ttl_seconds=60).issue(user_id)


def _unsigned(user_id: str) -> str:
    """alg=none: a token anyone can write."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": user_id, "exp": int(time.time()) + 60, "iss": "murmur"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _expired(client: Client, user_id: str) -> str:
    secret = client.platform.settings.jwt_secret()
    past = int(time.time()) - 10
    claims = {"sub": user_id, "iat": past - 60, "exp": past, "iss": "murmur"}
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_no_token_is_log_in(client: Client) -> None:
    timeline = await client.execute("{ timeline { edges { cursor } } }")
    assert timeline.errors is not None
    assert (timeline.errors[0].message, timeline.errors[0].extensions) == (
        "Log in to read your timeline.",
        {"code": "UNAUTHENTICATED"},
    )
    assert await client.data("{ viewer { id } }") == {"viewer": None}
    assert (await client.data(POST))["createPost"]["__typename"] == "NotAuthenticated"


@pytest.mark.parametrize("kind", ["expired", "forged", "unsigned", "garbage"])
async def test_a_bad_token_says_log_in_again(client: Client, kind: str) -> None:
    _, user_id = await client.register(f"token_{kind}")
    token = {
        "expired": lambda: _expired(client, user_id),
        "forged": lambda: _forged(user_id),
        "unsigned": lambda: _unsigned(user_id),
        "garbage": lambda: "not-a-jwt",
    }[kind]()
    expired = kind == "expired"
    message = "Your token has expired: log in again." if expired else "Your token is not valid: log in again."

    posted = (await client.data(POST, token))["createPost"]
    assert posted == {"__typename": "InvalidToken", "expired": expired, "message": message}
    for query in ("{ timeline { edges { cursor } } }", "{ viewer { id } }"):
        result = await client.execute(query, token)
        assert result.errors is not None, query
        assert (result.errors[0].message, result.errors[0].extensions) == (
            message,
            {"code": "UNAUTHENTICATED"},
        )
    # what needs no login still answers
    assert (await client.data("query($id: ID!) { user(id: $id) { id } }", token, id=user_id))["user"] == {
        "id": user_id
    }


async def test_logging_out_everywhere_never_extends_a_session(client: Client) -> None:
    """Review: logOutEverywhere answered a fresh 7-day token, so a stolen token could be
    traded for new ones for ever. The new token expires when the one it was asked with does."""
    token, user_id = await client.register("careful")
    tokens = client.platform.accounts._tokens
    short = tokens.issue(user_id, not_after=time.time() + 120)  # a session with 2 minutes left
    data = await client.data("mutation { logOutEverywhere { ... on AuthPayload { token } } }", short)
    fresh = data["logOutEverywhere"]["token"]
    claims = jwt.decode(fresh, options={"verify_signature": False})
    old = jwt.decode(short, options={"verify_signature": False})
    assert claims["exp"] <= old["exp"] and claims["ver"] == 1
    # both old tokens are revoked; the new one works
    revoked = await client.execute("{ viewer { id } }", token)
    assert revoked.errors is not None and "revoked" in revoked.errors[0].message
    assert (await client.data("{ viewer { id } }", fresh)) == {"viewer": {"id": user_id}}
