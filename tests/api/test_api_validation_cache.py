"""Each distinct query text parsed and validated once (api/validation.py), issue 18: the
verdicts remembered per schema and text in a bounded LRU, known texts free of the byte
budget for new documents, messages rewritten where graphql-core's would mislead or leak,
and what a subscription may be sent over and cost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import Client, make_settings, running_app
from cache_helpers import document_cache
from fixed_clock import TO_NEXT_MINUTE, fix_clock
from graphql import GraphQLSchema
from starlette.types import Message
from starlette.websockets import WebSocket

from api.context import Context
from api.schema import build_schema
from api.validation import CACHE_SIZE, TOO_COMPLEX, DocumentCache

SCHEMA = build_schema(make_settings(Path("unused")))._schema


def _cache(*, introspection: bool = True) -> DocumentCache:
    return DocumentCache.for_settings(make_settings(Path("unused")).api, introspection=introspection)


def _text(i: int) -> str:
    return f"{{ q{i}: viewer {{ id }} }}"


def test_a_verdict_is_remembered_per_schema_and_text() -> None:
    cache = _cache()
    other: GraphQLSchema = build_schema(make_settings(Path("unused")))._schema
    query = "{ viewer { nosuchfield } }"
    assert not cache.known(SCHEMA, query)
    verdict = cache.validate(SCHEMA, query)
    assert [error.message for error in verdict] == ["Cannot query field 'nosuchfield' on type 'User'."]
    assert cache.known(SCHEMA, query)
    assert cache.validate(SCHEMA, query) is verdict  # not validated again
    assert not cache.known(SCHEMA, "{ viewer { id } }")
    assert not cache.known(other, query)  # another schema's verdict is its own
    cache.clear()
    assert not cache.known(SCHEMA, query)


def test_the_verdicts_kept_are_the_most_recently_used() -> None:
    """CACHE_SIZE texts are all kept; one more evicts the one least recently used."""
    cache = _cache()
    for i in range(CACHE_SIZE):
        cache.validate(SCHEMA, _text(i))
    assert all(cache.known(SCHEMA, _text(i)) for i in range(CACHE_SIZE))
    cache.validate(SCHEMA, _text(0))  # used again: now the most recent
    cache.validate(SCHEMA, _text(CACHE_SIZE))
    assert [cache.known(SCHEMA, _text(i)) for i in (0, 1, 2, CACHE_SIZE)] == [True, False, True, True]
    # the parsed documents and the prices are bounded alike: endless new texts only evict
    for i in range(CACHE_SIZE + 1):
        cache.price(SCHEMA, _text(i), None, ())
    assert cache.parse.cache_info().currsize == cache.price.cache_info().currsize == CACHE_SIZE


def test_a_document_too_broken_to_validate_says_so() -> None:
    """graphql-core stops after 100 errors with "Validation aborted.": the client is told to
    simplify its document instead."""
    query = "{ " + " ".join(f"f{i}" for i in range(120)) + " }"
    messages = [error.message for error in _cache().validate(SCHEMA, query)]
    assert len(messages) == 101
    assert messages[:2] == [
        "Cannot query field 'f0' on type 'Query'.",
        "Cannot query field 'f1' on type 'Query'.",
    ]
    assert messages[-1] == TOO_COMPLEX


def test_without_introspection_no_suggestion_names_the_schema() -> None:
    query = "{ viewr { id } }"
    assert [error.message for error in _cache(introspection=False).validate(SCHEMA, query)] == [
        "Cannot query field 'viewr' on type 'Query'."
    ]
    suggested = ["Cannot query field 'viewr' on type 'Query'. Did you mean 'viewer' or 'user'?"]
    assert [error.message for error in _cache(introspection=True).validate(SCHEMA, query)] == suggested
    # built without saying, a cache keeps graphql-core's suggestions
    plain = _cache()
    default = DocumentCache(shape=plain.shape, rules=(), max_tokens=plain.max_tokens, budget=plain.budget)
    assert [error.message for error in default.validate(SCHEMA, query)] == suggested


async def test_a_known_text_is_not_parsed_again(client: Client) -> None:
    cache = document_cache(client.schema)
    query = "{ viewer { username } }"
    assert await client.data(query) == {"viewer": None}
    before = cache.parse.cache_info()
    assert await client.data(query) == {"viewer": None}
    after = cache.parse.cache_info()
    assert (after.misses, after.hits) == (before.misses, before.hits + 1)


async def test_a_document_over_the_token_limit_is_refused_however_it_is_parsed(client: Client) -> None:
    """The cached parse fails on it; Strawberry's own parse, which then reports the error,
    must apply the same limit (1000 tokens) and stop there, not parse it whole: a document
    also broken past the limit (no closing braces) is refused for its length."""
    for query in ("{ viewer { " + " ".join(["id"] * 1000) + " } }", "{ viewer { " + " ".join(["id"] * 1000)):
        result = await client.execute(query)
        assert result.data is None and result.errors is not None
        assert [error.message for error in result.errors] == [
            "Syntax Error: Document contains more than 1000 tokens. Parsing aborted."
        ]


# --- new documents spend a byte budget of their address; known ones are free ---

A = "{ viewer { id } }"  # 17 bytes
B = "{ viewer { username } }"  # 23 bytes
C = "{ a: viewer { id } }"  # 20 bytes


async def _post(http: httpx.AsyncClient, query: str, address: str) -> httpx.Response:
    return await http.post("/graphql", json={"query": query}, headers={"X-Forwarded-For": address})


async def test_new_documents_spend_their_bytes_and_known_ones_are_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fix_clock(monkeypatch)
    rates = {"new_query_bytes_per_ip": "40/minute", "trust_forwarded_for": True}
    async with running_app(make_settings(tmp_path, rate_limit=rates)) as (_, http):
        ok = {"data": {"viewer": None}}
        assert (await _post(http, A, "10.30.0.1")).json() == ok
        for _ in range(5):  # known: 85 bytes more, none of them spent
            assert (await _post(http, A, "10.30.0.1")).json() == ok
        assert (await _post(http, B, "10.30.0.1")).json() == ok  # 17 + 23: the whole budget
        refused = await _post(http, C, "10.30.0.1")
        assert refused.status_code == 200
        assert refused.headers["retry-after"] == str(TO_NEXT_MINUTE)
        assert refused.json() == {
            "data": None,
            "errors": [
                {
                    "message": f"Too many new documents: try again in {TO_NEXT_MINUTE} s, or send the ones "
                    "already sent again (they cost nothing).",
                    "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": TO_NEXT_MINUTE},
                }
            ],
        }
        # the documents already validated still pass; the refused one was not validated
        assert (await _post(http, B, "10.30.0.1")).json() == ok
        assert (await _post(http, C, "10.30.0.1")).status_code == 200
        assert "errors" in (await _post(http, C, "10.30.0.1")).json()
        # another address has a budget of its own: C is new to it, and within it
        assert (await _post(http, C, "10.30.9.9")).json() == {"data": {"a": None}}


# --- subscriptions ---

SUBSCRIPTION = "subscription { timelineEvents { kind post { author { followers(first: 30) { edges { node { id } } } } } } }"


async def test_a_subscription_sent_over_http_is_told_to_use_a_websocket(client: Client) -> None:
    result = await client.execute("subscription { timelineEvents { kind } }")
    assert result.data is None and result.errors is not None
    assert [error.message for error in result.errors] == [
        "Subscriptions run over a websocket at /graphql (graphql-transport-ws)."
    ]


@pytest.mark.parametrize("budget", [None, 60])
async def test_a_subscription_is_priced_against_the_subscription_budget(
    client: Client, tmp_path: Path, budget: int | None
) -> None:
    """Over a websocket: 8 + 30 followers at 2 each is within a query's budget (10,000) and
    over a subscription's (50 unless configured), which every event it delivers spends again."""
    if budget is not None:
        settings = make_settings(tmp_path, api={"max_subscription_cost": budget})
        client = Client(build_schema(settings), client.platform)
    token, _ = await client.register("subscriber")

    async def receive() -> Message:
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        raise AssertionError(message)

    headers = [(b"authorization", f"Bearer {token}".encode())]
    socket = WebSocket({"type": "websocket", "path": "/graphql", "headers": headers}, receive, send)
    events: Any = await client.schema.subscribe(
        SUBSCRIPTION, context_value=Context(platform=client.platform, request=socket)
    )
    try:
        first = await asyncio.wait_for(anext(events), timeout=10)  # refused at once when right
    finally:
        await events.aclose()
    assert first.data is None and first.errors is not None
    limit = budget or 50
    assert [(error.message, error.extensions) for error in first.errors] == [
        (
            f"This operation may cost 68, over the budget of {limit}: ask for smaller pages or fewer nested lists.",
            {"code": "COST_LIMIT_EXCEEDED", "cost": 68, "budget": limit},
        )
    ]
