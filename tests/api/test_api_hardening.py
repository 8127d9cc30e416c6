"""Limits on what a query may ask, introspection switched off, and masking of unexpected errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Client, make_settings

from api.schema import build_schema
from murmur.domain import RetryableStoreError
from murmur.platform import Platform, open_platform


def nested(depth: int) -> str:
    """viewer { following { edges { node { following ... } } } }, `depth` levels of `following`."""
    inner = "id"
    for _ in range(depth):
        inner = f"following {{ edges {{ node {{ {inner} }} }} }}"
    return f"{{ viewer {{ {inner} }} }}"


async def test_deep_query_is_refused(client: Client) -> None:
    token, _ = await client.register("deep")
    assert (await client.execute(nested(2), token)).errors is None
    for _ in range(2):  # the verdict is cached with the document: still refused the second time
        result = await client.execute(nested(6), token)
        assert result.errors is not None
        assert "exceeds maximum operation depth" in result.errors[0].message
        assert result.data is None


async def test_alias_bomb_is_refused(client: Client) -> None:
    aliases = " ".join(f"a{i}: viewer {{ id }}" for i in range(21))
    result = await client.execute(f"{{ {aliases} }}")
    assert result.errors is not None
    assert result.errors[0].message == "21 aliases found. Allowed: 20"


async def test_token_limit(client: Client) -> None:
    fields = " ".join(["__typename"] * 1100)
    result = await client.execute(f"{{ {fields} }}")
    assert result.errors is not None
    assert "more than 1000 tokens" in result.errors[0].message


async def test_introspection_follows_settings(tmp_path: Path, platform: Platform) -> None:
    query = "{ __schema { queryType { name } } }"
    enabled = Client(build_schema(make_settings(tmp_path)), platform)
    assert await enabled.data(query) == {"__schema": {"queryType": {"name": "Query"}}}
    disabled = Client(build_schema(make_settings(tmp_path, api={"introspection": False})), platform)
    result = await disabled.execute(query)
    assert result.errors is not None
    assert "introspection" in result.errors[0].message.lower()
    # __typename is not introspection of the schema
    assert await disabled.data("{ __typename }") == {"__typename": "Query"}


async def test_production_turns_introspection_off(tmp_path: Path, platform: Platform) -> None:
    settings = make_settings(
        tmp_path,
        environment="production",
        auth={"jwt_secret": "EiT0Q-Ctd6waUF6GtYndjNYGuXWsGdrSsN4DQvqQ77rbGw-J"},
    )
    assert not settings.introspection_enabled
    result = await Client(build_schema(settings), platform).execute('{ __type(name: "User") { name } }')
    assert result.errors is not None


@pytest.mark.parametrize(
    ("failure", "answer"),
    [
        (RuntimeError("database password is hunter2"), ("Unexpected error.", {})),
        (
            RetryableStoreError("Bolt: connection to 10.0.0.5:8182 refused"),
            (
                "A store Murmur needs is unavailable; try again shortly.",
                {"code": "UNAVAILABLE", "retryable": True},
            ),
        ),
    ],
    ids=["unexpected", "store-outage"],
)
async def test_failures_are_masked_and_outages_say_so(
    client: Client, monkeypatch: pytest.MonkeyPatch, failure: Exception, answer: tuple[str, object]
) -> None:
    token, _ = await client.register("victim")

    async def broken(**_: object) -> None:
        raise failure

    monkeypatch.setattr(client.platform.feed, "home_timeline", broken)
    result = await client.execute("{ timeline { edges { cursor } } }", token)
    assert result.errors is not None
    assert [(e.message, e.extensions) for e in result.errors] == [answer]
    assert "hunter2" not in str(result.errors[0].formatted) and "10.0.0.5" not in str(
        result.errors[0].formatted
    )


async def test_bad_requests_stay_visible(client: Client) -> None:
    token, _ = await client.register("reader")
    result = await client.execute('{ timeline(after: "nope") { edges { cursor } } }', token)
    assert result.errors is not None
    assert result.errors[0].message.startswith("Invalid cursor")
    assert result.errors[0].extensions == {"code": "BAD_REQUEST"}


@pytest.mark.parametrize(
    "query",
    [
        "{ viewr { id } }",
        "{ viewer { usernme } }",
        '{ user(usrname: "x") { id } }',
        "query($x: Strin) { viewer { id } }",
    ],
)
async def test_production_suggests_no_names(tmp_path: Path, query: str) -> None:
    """With introspection off, a misspelling gets no "Did you mean …?": it would leak the schema."""
    production = make_settings(
        tmp_path,
        environment="production",
        auth={"jwt_secret": "sysMLVSxx8pLQ0u6oE2UG2XVd5A7jPWLFlm3JZ-lmMc0bRbf"},
    )
    async with open_platform(production) as platform:
        locked = await Client(build_schema(production), platform).execute(query)
    assert locked.errors is not None
    assert all("Did you mean" not in e.message for e in locked.errors), [e.message for e in locked.errors]
    async with open_platform(make_settings(tmp_path / "dev")) as platform:
        open_ = await Client(build_schema(make_settings(tmp_path / "dev")), platform).execute(query)
    assert open_.errors is not None and any("Did you mean" in e.message for e in open_.errors)


async def test_a_mutation_whose_store_is_down_answers_service_unavailable(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await client.register("writer")

    async def down(**_: object) -> None:
        raise RetryableStoreError("MongoDB: connection to 10.0.0.7:27017 refused")

    monkeypatch.setattr(client.platform.feed, "create_post", down)
    data = await client.data(
        'mutation { createPost(body: "hi") { __typename ... on ServiceUnavailable { message retryable } } }',
        token,
    )
    assert data == {
        "createPost": {
            "__typename": "ServiceUnavailable",
            "message": "A store Murmur needs is unavailable; try again shortly.",
            "retryable": True,
        }
    }
