"""Security review, issue 16, findings 10 and 11, in process: the headers /graphql answers
carry (nosniff, no-store, HSTS behind TLS), /readyz naming roles not classes, the metrics
port on its own address, and a domain error outside a result union carrying its code."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import Client, make_settings, running_app
from prometheus_client import start_http_server
from starlette.types import Message, Receive, Scope, Send

from api.relay import encode_cursor
from api.security_headers import SecurityHeaders
from tests.servers._process import free_port

HSTS = "max-age=31536000; includeSubDomains"
LOGIN = (
    'mutation { register(username: "alice", password: "correct-horse") '
    "{ __typename ... on AuthPayload { token } } }"
)


def assert_graphql_headers(answer: httpx.Response) -> None:
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"], answer.headers
    assert answer.headers.get_list("cache-control") == ["no-store"], answer.headers


async def test_graphql_answers_are_nosniff_and_never_stored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit={"per_ip": "3/minute"})
    async with running_app(settings) as (_, http):
        token_answer = await http.post("/graphql", json={"query": LOGIN})  # carries a token
        assert "token" in token_answer.text
        assert_graphql_headers(token_answer)
        assert_graphql_headers(await http.get("/graphql", params={"query": "{ __typename }"}))
        too_big = await http.post("/graphql", content=b"x" * (settings.api.max_body_bytes + 1))
        assert too_big.status_code == 413
        assert_graphql_headers(too_big)
        # past 3 operations a minute from this address, the rate limit answers 429
        limited = [await http.post("/graphql", json={"query": "{ __typename }"}) for _ in range(3)]
        assert limited[-1].status_code == 429
        assert_graphql_headers(limited[-1])
        # not HTTPS here: no HSTS, and other paths are left alone
        assert "strict-transport-security" not in token_answer.headers
        assert "cache-control" not in (await http.get("/healthz")).headers


async def test_the_graphiql_page_keeps_its_own_headers(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, http):
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers.get_list("x-content-type-options") == ["nosniff"]  # not twice
        assert page.headers.get_list("cache-control") == ["no-cache"]  # the page holds no token


async def test_behind_tls_every_answer_carries_hsts(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api={"behind_tls": True})
    async with running_app(settings) as (_, http):
        for answer in (
            await http.post("/graphql", json={"query": "{ __typename }"}),
            await http.get("/healthz"),
            await http.get("/readyz"),
            await http.get("/nowhere"),
        ):
            assert answer.headers.get_list("strict-transport-security") == [HSTS], answer.url


async def test_websockets_and_lifespan_pass_untouched() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.accept", "headers": []})

    async def send(message: Message) -> None:
        seen.append(message)

    async def receive() -> Message:
        return {}

    await SecurityHeaders(app, behind_tls=True)({"type": "websocket", "path": "/graphql"}, receive, send)
    assert seen == [{"type": "websocket.accept", "headers": []}]


async def test_readiness_names_store_roles_not_classes(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path)) as (_, http):
        ready = await http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    roles = {"users", "posts", "graph", "timelines", "queue", "bulk_queue", "ledger"}
    assert body["stores"] == {role: "up" for role in roles}
    assert "Sqlite" not in ready.text and "Database" not in ready.text


@pytest.mark.parametrize("api_host", ["127.0.0.1", "0.0.0.0"])
async def test_the_metrics_port_binds_to_the_metrics_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_host: str
) -> None:
    bound: list[str] = []

    def recording(port: int, addr: str = "0.0.0.0", **kwargs: Any) -> Any:
        bound.append(addr)
        return start_http_server(port, addr=addr, **kwargs)

    monkeypatch.setattr("api.app.start_http_server", recording)
    settings = make_settings(
        tmp_path,
        environment="production",
        auth={"jwt_secret": secrets.token_urlsafe(36)},
        api={"host": api_host, "metrics_port": free_port()},
    )
    async with running_app(settings):
        pass
    assert bound == ["127.0.0.1"]  # the default metrics_host, whatever the API's host


async def test_a_cursor_the_store_refuses_is_a_bad_request(client: Client) -> None:
    _, user_id = await client.register("hub")
    forged = encode_cursor("followers", "not-a-graph-cursor", 0)  # parses, the store refuses it
    result = await client.execute(
        "query($id: ID!, $after: String) { user(id: $id) { followers(after: $after) { edges { cursor } } } }",
        id=user_id,
        after=forged,
    )
    assert result.errors is not None
    assert (result.errors[0].message, result.errors[0].extensions) == (
        "Invalid cursor.",
        {"code": "BAD_REQUEST"},
    )


async def test_graphiql_never_persists_the_headers_pane(tmp_path: Path) -> None:
    """A bearer token typed in GraphiQL's Headers pane must not land in localStorage (the
    real-browser check is in tests/e2e/test_graphiql_browser.py)."""
    async with running_app(make_settings(tmp_path)) as (_, http):
        script = (await http.get("/graphiql/murmur-graphiql.js")).text
    assert "shouldPersistHeaders: false" in script and "shouldPersistHeaders: true" not in script
    assert "storage: storage" in script  # the history keeps no headers either
