"""GraphiQL is Murmur's own page: every asset from Murmur's origin, under a strict CSP.

The browser test (tests/e2e/test_graphiql_browser.py) shows it works offline; these
check the page and the asset routes directly."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_helpers import make_settings, running_app

from api import graphiql


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(make_settings(tmp_path)) as (_, client):
        yield client


async def test_the_page_loads_only_from_murmur_itself(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/graphiql/") or s.startswith("data:") for s in sources)
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    for source in sources:
        if source.startswith("/"):
            assert (await http.get(source)).status_code == 200, source


async def test_the_served_assets_are_the_pinned_npm_files(http: httpx.AsyncClient) -> None:
    recorded = json.loads((graphiql.ASSETS / "assets.json").read_text())
    assert any(p.startswith("graphiql@3.") for p in recorded["packages"])
    for name, digest in recorded["sha256"].items():
        served = await http.get(f"/graphiql/assets/{name}")
        assert served.status_code == 200
        assert hashlib.sha256(served.content).hexdigest() == digest, f"{name} differs from assets.json"


@pytest.mark.parametrize(
    "path", ["/graphiql/assets/assets.json", "/graphiql/assets/..%2Fpage.html", "/graphiql/__init__.py"]
)
async def test_nothing_else_is_served(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 404


async def test_no_graphiql_when_it_is_off(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, api={"graphiql": False})) as (_, http):
        assert (await http.get("/graphql", headers={"Accept": "text/html"})).status_code != 200
        assert (await http.get("/graphiql/assets/graphiql.min.js")).status_code == 404
