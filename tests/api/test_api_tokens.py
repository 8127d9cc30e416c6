"""Token trouble is typed: a client can tell "log in" from "log in again", and why."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from api_helpers import Client, make_settings, running_app
from argon2 import Type, extract_parameters

from api.schema import build_schema
from murmur.auth import Passwords, Tokens
from murmur.domain import UserId

POST = 'mutation { createPost(body: "hi") { __typename ... on InvalidToken { expired message } ... on Error { message } } }'


def _forged(user_id: str) -> str:
    return Tokens(secret="another-secret-that-is-long-enough-000", ttl_seconds=60).issue(UserId(user_id))


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
    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: _expired(client, user_id),
        "forged": lambda: _forged(user_id),
        "unsigned": lambda: _unsigned(user_id),
        "garbage": lambda: "not-a-jwt",
    }
    token = makers[kind]()
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
    short = tokens.issue(UserId(user_id), not_after=time.time() + 120)  # a session with 2 minutes left
    data = await client.data("mutation { logOutEverywhere { ... on AuthPayload { token } } }", short)
    fresh = data["logOutEverywhere"]["token"]
    claims = jwt.decode(fresh, options={"verify_signature": False})
    old = jwt.decode(short, options={"verify_signature": False})
    assert claims["exp"] <= old["exp"] and claims["ver"] == 1
    # both old tokens are revoked; the new one works
    revoked = await client.execute("{ viewer { id } }", token)
    assert revoked.errors is not None and "revoked" in revoked.errors[0].message
    assert (await client.data("{ viewer { id } }", fresh)) == {"viewer": {"id": user_id}}


# --- issue 18: each part of a token that Murmur checks, and the header that carries it ---

NOT_VALID = "Your token is not valid: log in again."
REVOKED = "Your token was revoked (logged out everywhere): log in again."
EXPIRED = "Your token has expired: log in again."
POST_KIND = 'mutation { createPost(body: "hi") { __typename } }'


def _signed(client: Client, claims: dict[str, object], *, algorithm: str = "HS256") -> str:
    """A token signed with Murmur's own secret: only its claims (or algorithm) can be wrong.
    Signed as raw JSON, since PyJWT's encoder refuses some malformed claims a forger would send."""
    payload = json.dumps(claims).encode()
    return jwt.PyJWS().encode(payload, client.platform.settings.jwt_secret(), algorithm=algorithm)


def _claims(user_id: str, **changes: object) -> dict[str, object]:
    """The claims Murmur issues, with `changes` applied (a value of None removes the claim)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user_id, "iat": now, "exp": now + 600, "iss": "murmur", "ver": 0}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


async def _refused(client: Client, token: str, message: str) -> None:
    """The token logs nobody in, and every answer that needs a login says why."""
    posted = (await client.data(POST, token))["createPost"]
    assert posted == {"__typename": "InvalidToken", "expired": message == EXPIRED, "message": message}
    viewer = await client.execute("{ viewer { id } }", token)
    assert viewer.errors is not None
    assert (viewer.errors[0].message, viewer.errors[0].extensions) == (message, {"code": "UNAUTHENTICATED"})


async def test_a_token_built_as_murmur_builds_them_logs_in(client: Client) -> None:
    """The control for the refusals below: the helpers make tokens that work, so a refusal
    comes from the one claim a test changes."""
    _, user_id = await client.register("control")
    token = _signed(client, _claims(user_id))
    assert await client.data("{ viewer { id } }", token) == {"viewer": {"id": user_id}}
    assert (await client.data(POST_KIND, token))["createPost"]["__typename"] == "PostPayload"


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"iss": "someone-else"}, id="another-issuer"),
        pytest.param({"iss": None}, id="no-issuer"),
        pytest.param({"iss": ["murmur"]}, id="issuer-not-a-string"),
        pytest.param({"sub": None}, id="no-subject"),
        pytest.param({"sub": "alice"}, id="subject-not-an-id"),
        pytest.param({"sub": ""}, id="empty-subject"),
        pytest.param({"aud": "another-service"}, id="an-audience"),
        pytest.param({"exp": None}, id="no-expiry"),
        pytest.param({"ver": -1}, id="negative-version"),
        pytest.param({"ver": True}, id="boolean-version"),
        pytest.param({"ver": "0"}, id="text-version"),
    ],
)
async def test_a_token_with_a_claim_murmur_did_not_write_is_refused(
    client: Client, changes: dict[str, object]
) -> None:
    """Signed with the right secret, but not a token Murmur issues: another service sharing
    the secret (another issuer, an audience of its own) or a malformed one."""
    _, user_id = await client.register("claimant")
    await _refused(client, _signed(client, _claims(user_id, **changes)), NOT_VALID)


async def test_a_numeric_subject_is_refused(client: Client) -> None:
    """JWT subjects are strings (RFC 7519 4.1.2): the number 1 is not the user "1"."""
    _, user_id = await client.register("numeric")
    await _refused(client, _signed(client, _claims(user_id, sub=int(user_id))), NOT_VALID)


async def test_a_token_naming_a_user_that_does_not_exist_is_refused(client: Client) -> None:
    """Signed and unexpired, but its subject is nobody (an account that never existed, or is
    gone): the store knows no token version for it, so it counts as revoked."""
    await client.register("someone")
    for nobody in ("987654321", "01", str(2**63)):
        await _refused(client, _signed(client, _claims(nobody)), REVOKED)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
async def test_only_the_configured_algorithm_is_accepted(client: Client, algorithm: str) -> None:
    """Algorithm confusion: the right secret under another HMAC is still refused (only HS256
    is allowed); alg=none is test_a_bad_token_says_log_in_again's `unsigned`."""
    _, user_id = await client.register("confused")
    await _refused(client, _signed(client, _claims(user_id), algorithm=algorithm), NOT_VALID)


async def test_a_token_is_refused_from_the_second_its_expiry_names(client: Client) -> None:
    """No leeway: `exp` is the first second a token is refused (RFC 7519 4.1.4, "on or
    after"), so one whose exp is this very second is expired, whatever the fraction."""
    _, user_id = await client.register("punctual")
    now = int(time.time())
    for exp in (now, now - 1):
        await _refused(client, _signed(client, _claims(user_id, iat=now - 60, exp=exp)), EXPIRED)
    fresh = _signed(client, _claims(user_id, exp=now + 60))
    assert await client.data("{ viewer { id } }", fresh) == {"viewer": {"id": user_id}}


async def test_an_issued_token_lives_exactly_the_configured_ttl(client: Client) -> None:
    token, _ = await client.register("timely")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == client.platform.settings.auth.token_ttl_seconds
    assert claims["iss"] == "murmur" and "aud" not in claims


# How each Authorization value is read: the scheme is case-insensitive and one or more
# spaces separate it from the token (RFC 7235 2.1, RFC 6750 2.1); any other scheme, or a
# value that is not `<scheme> <token>`, sends no token at all (anonymous); whatever follows
# "Bearer " is the token, so extra parts make it an invalid token, refused as such.
LOGS_IN = ["Bearer {t}", "bearer {t}", "BEARER {t}", "bEaReR {t}", "Bearer   {t}", "  Bearer {t}  "]
ANONYMOUS = [
    "Basic {t}",
    "Token {t}",
    "JWT {t}",
    "{t}",
    "Bearer{t}",
    "Bearer\t{t}",
    "Bearer",
    "Bearer ",
    "Bearer:{t}",
]
INVALID = ["Bearer {t} extra", "Bearer {t} {t}", "Bearer {t},{t}", "Bearer Bearer {t}", "Bearer {t}x"]


async def _over_http(http: httpx.AsyncClient, query: str, authorization: str) -> dict[str, Any]:
    answer = await http.post("/graphql", json={"query": query}, headers={"Authorization": authorization})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("form", LOGS_IN + ANONYMOUS + INVALID)
async def test_only_a_bearer_authorization_logs_in(tmp_path: Path, form: str) -> None:
    """Through the ASGI app, so the header is read as a client sends it."""
    async with running_app(make_settings(tmp_path)) as (app, http):
        platform = app.state.runtime.platform
        token, user_id = await Client(build_schema(platform.settings), platform).register("scheme")
        authorization = form.format(t=token)
        viewer = await _over_http(http, "{ viewer { id } }", authorization)
        posted = await _over_http(http, POST_KIND, authorization)
        if form in LOGS_IN:
            assert viewer == {"data": {"viewer": {"id": user_id}}}
            assert posted["data"]["createPost"]["__typename"] == "PostPayload"
        elif form in ANONYMOUS:
            assert viewer == {"data": {"viewer": None}}
            assert posted["data"]["createPost"]["__typename"] == "NotAuthenticated"
        else:
            assert viewer["data"] == {"viewer": None}
            assert viewer["errors"][0]["message"] == NOT_VALID
            assert posted["data"]["createPost"]["__typename"] == "InvalidToken"


async def test_a_token_without_a_version_is_version_0(client: Client) -> None:
    """Tokens issued before versions existed carry no `ver`: they count as version 0, so
    they work until the user logs out everywhere, and not after."""
    _, user_id = await client.register("veteran")
    old = _signed(client, _claims(user_id, ver=None))
    assert "ver" not in jwt.decode(old, options={"verify_signature": False})
    assert await client.data("{ viewer { id } }", old) == {"viewer": {"id": user_id}}
    await client.platform.accounts.revoke_tokens(user_id=UserId(user_id), not_after=time.time() + 60)
    await _refused(client, old, REVOKED)


def test_a_token_expires_at_its_ttl_or_at_not_after_if_sooner() -> None:
    """`not_after` caps a token's life (logOutEverywhere's new token never outlives the one
    it was asked with); a later `not_after` does not extend it past the TTL."""
    tokens = Tokens(secret="a-secret-that-is-long-enough-for-hs256-000", ttl_seconds=3600)

    def lifetime(not_after: float | None = None) -> int:
        claims = jwt.decode(
            tokens.issue(UserId("7"), not_after=not_after), options={"verify_signature": False}
        )
        return int(claims["exp"]) - int(claims["iat"])

    assert lifetime() == 3600
    assert lifetime(not_after=time.time() + 7200) == 3600
    assert 118 <= lifetime(not_after=time.time() + 120) <= 120  # whole seconds, the clock ticking
    assert lifetime(not_after=time.time() - 5) <= -4  # already over: born expired


async def test_passwords_are_hashed_with_the_configured_cost() -> None:
    """argon2id with the settings' time and memory cost and one lane: what the hash records
    is what every verification will pay."""
    passwords = Passwords(time_cost=2, memory_kib=16)
    parameters = extract_parameters(await passwords.hash("correct-horse-battery"))
    assert (parameters.type, parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        Type.ID,
        2,
        16,
        1,
    )
    assert await passwords.verify(await passwords.hash("correct-horse-battery"), "correct-horse-battery")
    assert not await passwords.verify(None, "murmur-decoy-password")  # no account: never a match
