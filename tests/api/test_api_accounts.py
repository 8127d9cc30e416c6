"""Accounts (murmur/accounts.py), issue 18: when a user was created, logins refused past
the length limits before anything is looked up, tokens that carry the user's token version,
and what logging out everywhere answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from api_helpers import Client

from murmur.accounts import Accounts
from murmur.auth import Passwords, Tokens
from murmur.domain import InvalidCredentials, Limits
from murmur.platform import Platform

PASSWORD = "Zq7-Kp2!x"


async def test_a_user_is_created_at_an_aware_utc_moment(client: Client, platform: Platform) -> None:
    """Naive local time would be read back as UTC by the stores and compared against aware
    moments (activity, inactivity) elsewhere."""
    before = datetime.now(UTC)
    session = await platform.accounts.register(username="punctual", password=PASSWORD)
    created = session.user.created_at
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(UTC)
    data = await client.data('{ user(username: "punctual") { createdAt } }')
    stored = datetime.fromisoformat(data["user"]["createdAt"])  # as the store keeps it: to the ms
    assert stored == created.replace(microsecond=created.microsecond // 1000 * 1000)


def _strict(platform: Platform, limits: Limits) -> Accounts:
    """Accounts over the platform's own user store, with other length limits: as after a
    release that tightened them, over accounts registered before."""
    settings = platform.settings
    return Accounts(
        users=platform.backends.users,
        passwords=Passwords(time_cost=settings.auth.hash_time_cost, memory_kib=settings.auth.hash_memory_kib),
        tokens=Tokens(secret=settings.jwt_secret(), ttl_seconds=settings.auth.token_ttl_seconds),
        ids=platform.ids,
        limits=limits,
    )


async def test_a_login_past_either_length_limit_is_refused_unchecked(platform: Platform) -> None:
    """A username or a password longer than the limits is refused as wrong credentials,
    without a store read or a hash of the overlong text, even when it was once allowed and
    is right; within both limits the same store logs in."""
    for username, password in [("ninechars", PASSWORD), ("short", "Zq7-Kp2!xyz-lengthy")]:
        await platform.accounts.register(username=username, password=password)
    await platform.accounts.register(username="within", password=PASSWORD)
    strict = _strict(platform, Limits(username_max=8, password_max=12))
    for username, password in [("ninechars", PASSWORD), ("short", "Zq7-Kp2!xyz-lengthy")]:
        with pytest.raises(InvalidCredentials):
            await strict.login(username=username, password=password)
    assert (await strict.login(username="within", password=PASSWORD)).user.username == "within"


async def test_a_login_after_logging_out_everywhere_gets_a_token_that_works(client: Client) -> None:
    """Logging out everywhere raises the user's token version; a later login's token carries
    the new version, so it is not born revoked."""
    first, user_id = await client.register("returning", PASSWORD)
    answer = await client.data(
        "mutation { logOutEverywhere { ... on AuthPayload { token user { id username } } } }", first
    )
    assert answer["logOutEverywhere"]["user"] == {"id": user_id, "username": "returning"}
    login = await client.data(
        'mutation($p: String!) { login(username: "returning", password: $p) { ... on AuthPayload { token } } }',
        p=PASSWORD,
    )
    token = login["login"]["token"]
    assert jwt.decode(token, options={"verify_signature": False})["ver"] == 1
    assert await client.data("{ viewer { id } }", token) == {"viewer": {"id": user_id}}
