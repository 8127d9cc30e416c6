"""Helpers for the API tests: cheap settings and a client that runs GraphQL through the gateway schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import strawberry
from fastapi import FastAPI
from starlette.requests import Request

from api.app import create_app
from api.context import Context
from murmur.platform import Platform, open_platform
from murmur.settings import Settings
from workers.drain import drain


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Cheap password hashing, no demo world, no background workers (tests drain the queue)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "auth": {"hash_time_cost": 1, "hash_memory_kib": 8},
        "seed": {"enabled": False},
        "workers": {"in_process": 0},
        **overrides,
    }
    return Settings(**values)


class Client:
    """Runs operations through the gateway schema the way /graphql does, with a bearer token."""

    def __init__(self, schema: strawberry.Schema, platform: Platform) -> None:
        self.schema = schema
        self.platform = platform

    def context(self, token: str | None = None) -> Context:
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": headers})
        return Context(platform=self.platform, request=request)

    async def execute(
        self, query: str, token: str | None = None, **variables: Any
    ) -> strawberry.types.ExecutionResult:
        return await self.schema.execute(query, variable_values=variables, context_value=self.context(token))

    async def data(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        """The data of an operation that must not fail."""
        result = await self.execute(query, token, **variables)
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

    async def register(self, username: str, password: str = "correct-horse") -> tuple[str, str]:
        """(token, user id) of a new account."""
        data = await self.data(
            "mutation($u: String!, $p: String!) { register(username: $u, password: $p) "
            "{ __typename ... on AuthPayload { token user { id } } ... on Error { message } } }",
            u=username,
            p=password,
        )
        payload = data["register"]
        assert payload["__typename"] == "AuthPayload", payload
        return payload["token"], payload["user"]["id"]

    async def settle(self) -> None:
        """Let fan-out converge (the tests run no background workers)."""
        await drain(self.platform)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The ASGI app over a fresh platform, its lifespan running, and an HTTP client for it."""
    async with open_platform(settings) as platform:
        app = create_app(settings, platform=platform)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://murmur") as http,
        ):
            yield app, http
