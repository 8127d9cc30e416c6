"""Driving a live server with the gql client: HTTP through httpx, subscriptions over graphql-transport-ws."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from live_server import LiveServer
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class Murmur:
    def __init__(self, server: LiveServer) -> None:
        self.server = server

    @asynccontextmanager
    async def http(self, token: str | None = None) -> AsyncIterator[AsyncClientSession]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = HTTPXAsyncTransport(url=self.server.url, headers=headers, timeout=30)
        async with Client(transport=transport) as session:
            yield session

    @asynccontextmanager
    async def websocket(self, token: str | None = None) -> AsyncIterator[AsyncClientSession]:
        transport = WebsocketsTransport(
            url=self.server.ws_url,
            init_payload={"authorization": f"Bearer {token}"} if token else {},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        async with Client(transport=transport) as session:
            yield session

    async def execute(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        async with self.http(token) as session:
            return await session.execute(GraphQLRequest(query, variable_values=variables or None))

    async def register(self, prefix: str, password: str = "correct-horse") -> tuple[str, str, str]:
        """(token, user id, username) of a new account."""
        username = unique(prefix)
        data = await self.execute(
            "mutation($u: String!, $p: String!) { register(username: $u, password: $p) "
            "{ ... on AuthPayload { token user { id } } } }",
            u=username,
            p=password,
        )
        return data["register"]["token"], data["register"]["user"]["id"], username

    async def follow(self, token: str, user_id: str) -> None:
        data = await self.execute(
            "mutation($id: ID!) { follow(userId: $id) { __typename } }", token, id=user_id
        )
        assert data["follow"]["__typename"] == "FollowPayload"

    async def post(self, token: str, body: str) -> str:
        data = await self.execute(
            "mutation($b: String!) { createPost(body: $b) { ... on PostPayload { post { id } } } }",
            token,
            b=body,
        )
        post_id: str = data["createPost"]["post"]["id"]
        return post_id

    async def timeline(self, token: str) -> list[str]:
        data = await self.execute("{ timeline(first: 50) { edges { node { body } } } }", token)
        return [edge["node"]["body"] for edge in data["timeline"]["edges"]]


async def eventually(
    check: Callable[[], Awaitable[T]], accept: Callable[[T], bool], within: float = 10.0
) -> T:
    """Poll until `accept` holds (fan-out is asynchronous); the last value otherwise, for the assertion."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if accept(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


def metric(exposition: str, sample: str, **labels: str) -> float:
    """One sample's value from a /metrics page (0 when it has not been observed yet)."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0
