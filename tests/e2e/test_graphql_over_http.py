"""GraphQL over HTTP, as the spec's own audit (npm graphql-http) checks it: no failure and
no warning. Both media types: application/graphql-response+json for clients that ask for
it (4xx when a request fails before execution), application/json for older ones."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer

AUDIT = Path(__file__).resolve().parents[1] / "graphql_http_audit"
NEW = "application/graphql-response+json"


def test_the_graphql_http_audit_passes_without_warnings(server: LiveServer) -> None:
    node = shutil.which("node")
    if node is None or not (AUDIT / "node_modules" / "graphql-http").is_dir():
        pytest.skip("node and tests/graphql_http_audit/node_modules are needed (scripts/npm-deps.sh)")
    done = subprocess.run(
        [node, "audit.mjs", server.url], cwd=AUDIT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) > 50  # the audit ran whole
    assert [(r["status"], r["name"], r["reason"]) for r in results if r["status"] != "ok"] == []


@pytest.mark.parametrize(
    ("accept", "media", "status", "has_data"),
    [
        (NEW, NEW, 400, False),
        (f"{NEW}, application/json;q=0.9", NEW, 400, False),
        ("application/json", "application/json", 200, True),
        ("", "application/json", 200, True),
        (f"application/json, {NEW};q=0.5", "application/json", 200, True),
    ],
)
def test_a_validation_failure_per_media_type(
    server: LiveServer, accept: str, media: str, status: int, has_data: bool
) -> None:
    answer = httpx.post(server.url, json={"query": "{ nope }"}, headers={"Accept": accept} if accept else {})
    assert (answer.status_code, answer.headers["content-type"].split(";")[0]) == (status, media)
    assert ("data" in answer.json(), bool(answer.json()["errors"])) == (has_data, True)


def test_an_execution_error_keeps_data_and_200_under_the_new_type(server: LiveServer) -> None:
    answer = httpx.post(
        server.url, json={"query": "{ timeline { edges { cursor } } }"}, headers={"Accept": NEW}
    )
    assert answer.status_code == 200
    assert answer.json()["data"] is None and answer.json()["errors"][0]["path"] == ["timeline"]


def test_a_subscription_over_plain_http_is_told_to_use_a_websocket(server: LiveServer) -> None:
    answer = httpx.post(server.url, json={"query": "subscription { timelineEvents { kind } }"})
    assert [e["message"] for e in answer.json()["errors"]] == [
        "Subscriptions run over a websocket at /graphql (graphql-transport-ws)."
    ]
    # a request that fails before execution: HTTP 400 under the newer media type
    assert (
        httpx.post(
            server.url, json={"query": "subscription { timelineEvents { kind } }"}, headers={"Accept": NEW}
        ).status_code
        == 400
    )
