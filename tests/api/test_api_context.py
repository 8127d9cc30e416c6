"""The GraphQL context (api/context.py), issue 18: where the bearer token is read from, what
verifying it answers, and DataLoaders a long-lived connection can start over with."""

from __future__ import annotations

import pytest
from api_helpers import Client

from api.context import Context
from murmur.domain import UserId


def _context(
    client: Client, *, header: str | None = None, params: dict[str, object] | None = None
) -> Context:
    context = client.context()
    if header is not None:
        context = Context(platform=client.platform, request=client.context(header).request)
    context.connection_params = params
    return context


@pytest.mark.parametrize("name", ["authorization", "Authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"])
def test_a_sockets_token_is_read_from_connection_init_whatever_the_case(client: Client, name: str) -> None:
    """GraphiQL copies its Headers pane into the connection_init payload as typed; other
    entries of the payload are not the token."""
    params: dict[str, object] = {
        "x-request-id": "Bearer not-this",
        name: "Bearer from-init",
        "z": "Bearer nor-this",
    }
    assert _context(client, params=params).token == "from-init"
    # connection_init's token wins over the upgrade request's header
    assert _context(client, header="from-header", params=params).token == "from-init"


def test_without_a_token_in_connection_init_the_header_is_read(client: Client) -> None:
    assert _context(client, params={"x-request-id": "Bearer not-this"}).token is None
    assert _context(client, header="from-header", params={"x-request-id": "Bearer no"}).token == "from-header"
    assert _context(client, header="from-header", params=None).token == "from-header"
    assert _context(client, params={"authorization": 42}).token is None  # not text: no token


async def test_verifying_the_viewer_answers_who_it_is(client: Client) -> None:
    token, user_id = await client.register("verified")
    context = client.context(token)
    assert await context.verify_viewer() == user_id
    assert context.token_problem is None
    assert await context.viewer() == user_id
    refused = client.context("not-a-jwt")
    assert await refused.verify_viewer() is None
    assert refused.token_problem is not None and refused.token_problem.message == (
        "Your token is not valid: log in again."
    )


async def test_fresh_loaders_see_what_changed_since_the_last_ones(client: Client) -> None:
    """A subscription lives long: the DataLoaders it starts over with read the stores again,
    where the old ones would serve what they cached."""
    token, registered = await client.register("changing")
    user_id = UserId(registered)
    context = client.context(token)
    old = context.loaders
    first = await old.users.load(user_id)
    assert first is not None and first.display_name == "changing"
    await client.platform.accounts.update_profile(user_id=user_id, display_name="Changed", bio=None)
    cached = await old.users.load(user_id)
    assert cached is not None and cached.display_name == "changing"  # what a stale loader serves
    fresh = context.fresh_loaders()
    assert fresh is context.loaders and fresh is not old
    reread = await fresh.users.load(user_id)
    assert reread is not None and reread.display_name == "Changed"
