"""Operations generated from the schema (queries and mutations, valid and invalid) never break the server:
no 5xx, and no unexpected error behind the mask."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from e2e_client import Murmur
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema
from live_server import LiveServer

from api.schema import build_schema
from murmur.settings import Settings

# the strategies need the schema when the module loads; its shape does not depend on settings
SCHEMA = build_schema(Settings())._schema


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    token, _, _ = asyncio.run(Murmur(server).register("fuzzer"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        return
    body = response.json()
    assert "data" in body or "errors" in body
    messages = [error["message"] for error in body.get("errors") or []]
    assert "Unexpected error." not in messages, body


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=from_schema(SCHEMA), logged_in=st.booleans())
def test_valid_operations(http: tuple[httpx.Client, dict[str, str]], query: str, logged_in: bool) -> None:
    client, auth = http
    check(client.post("", json={"query": query}, headers=auth if logged_in else {}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=from_schema(SCHEMA, mode=Mode.NEGATIVE), logged_in=st.booleans())
def test_invalid_operations(http: tuple[httpx.Client, dict[str, str]], query: str, logged_in: bool) -> None:
    client, auth = http
    check(client.post("", json={"query": query}, headers=auth if logged_in else {}))
