"""Liveness, readiness and metrics of a running server."""

from __future__ import annotations

import httpx
from e2e_client import Murmur
from live_server import LiveServer


def test_health_and_readiness(server: LiveServer) -> None:
    assert httpx.get(server.base("/healthz")).json() == {"status": "ok"}
    ready = httpx.get(server.base("/readyz"))
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["seed"] == "disabled"
    assert body["stores"] and set(body["stores"].values()) == {"up"}
    assert body["degraded"] == []


async def test_metrics_show_operations_and_stores(server: LiveServer) -> None:
    await Murmur(server).execute("query Metered { viewer { id } }")
    async with httpx.AsyncClient() as http:
        text = (await http.get(server.base("/metrics"))).text
    assert 'murmur_graphql_request_duration_seconds_count{operation="Metered",type="query"}' in text
    assert "murmur_store_operations_total" in text
