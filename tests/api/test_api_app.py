"""The app's lifespan: readiness waits for seeding; the workers start after it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from api_helpers import make_settings

from api import runtime
from api.app import create_app
from murmur.platform import Platform, open_platform


async def test_readiness_waits_for_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(
        tmp_path, seed={"enabled": True}, workers={"in_process": 1, "wait_seconds": 0.05}
    )
    release = asyncio.Event()
    seeded: list[Platform] = []

    async def slow_seed(platform: Platform) -> None:
        await release.wait()
        seeded.append(platform)

    monkeypatch.setattr(runtime, "seed_if_empty", slow_seed)
    async with open_platform(settings) as platform:
        app = create_app(settings, platform=platform)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://murmur") as http,
        ):
            assert (await http.get("/healthz")).status_code == 200
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["seed"] == "running"
            assert waiting.json()["waiting_for"] == ["seed"]
            assert app.state.runtime.pool is None  # the workers wait for the seed

            release.set()
            for _ in range(100):
                if (await http.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            ready = (await http.get("/readyz")).json()
            assert ready["ready"] is True
            assert ready["seed"] == "done"
            assert ready["waiting_for"] == []
            assert seeded == [platform]
            assert app.state.runtime.pool is not None
        assert app.state.runtime.pool is None  # stopped on shutdown


async def test_a_failed_seed_keeps_the_app_unready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, seed={"enabled": True})

    async def broken_seed(platform: Platform) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(runtime, "seed_if_empty", broken_seed)
    async with open_platform(settings) as platform:
        app = create_app(settings, platform=platform)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://murmur") as http,
        ):
            for _ in range(100):
                answer = await http.get("/readyz")
                if answer.json().get("seed") == "failed":
                    break
                await asyncio.sleep(0.01)
            assert answer.status_code == 503
            assert answer.json()["seed"] == "failed"


async def test_graphql_over_the_app(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with open_platform(settings) as platform:
        app = create_app(settings, platform=platform)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://murmur") as http,
        ):
            answer = await http.post("/graphql", json={"query": "{ viewer { id } }"})
            assert answer.json() == {"data": {"viewer": None}}
            too_big = await http.post("/graphql", content=b"x" * (settings.api.max_body_bytes + 1))
            assert too_big.status_code == 413
