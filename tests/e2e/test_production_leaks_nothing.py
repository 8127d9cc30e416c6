"""Production mode leaks nothing: clairvoyance (PyPI), which rebuilds a schema from the
hints of error messages when introspection is off, recovers no name the test did not
send itself. It runs from its own tool environment (its pinned rich clashes with ours)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, serving

from tests.support.e2e import e2e_settings

CLAIRVOYANCE = "clairvoyance==2.5.5"
ROOT = Path(__file__).resolve().parents[2]
# near misses of real names: with "Did you mean …?" hints each would give away the real one
WORDS = ["viewr", "usr", "timelin", "pst", "usrname", "folowers", "registr", "logn", "creatPost", "nodes"]


def _serve(tmp_path_factory: pytest.TempPathFactory, **api: object) -> Iterator[LiveServer]:
    settings = e2e_settings(
        tmp_path_factory.mktemp("e2e-production"),
        environment="production",
        auth={
            "jwt_secret": "3FvPfbjtldYABbYH4Q_RW9BaKhBd0gtWcAVd37S_pdxeJQuX",
            "hash_time_cost": 1,
            "hash_memory_kib": 8,
        },
        api={"metrics_port": 0, **api},
        rate_limit={"enabled": False},  # clairvoyance sends hundreds of requests at once
    )
    yield from serving(settings)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def introspective(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Production with introspection switched back on: hints are on too (the control case)."""
    yield from _serve(tmp_path_factory, introspection=True)


def test_no_graphiql_no_introspection_no_metrics_on_the_api_port(production: LiveServer) -> None:
    assert httpx.get(production.url, headers={"Accept": "text/html"}).status_code != 200
    assert httpx.get(production.base("/metrics")).status_code == 404
    answer = httpx.post(production.url, json={"query": "{ __schema { types { name } } }"}).json()
    assert "data" not in answer or answer["data"] is None


def test_clairvoyance_recovers_nothing_it_did_not_send(production: LiveServer, tmp_path: Path) -> None:
    assert _recovered(production, tmp_path) <= set(WORDS)


def test_with_hints_on_clairvoyance_would_find_the_real_names(
    introspective: LiveServer, tmp_path: Path
) -> None:
    assert {"viewer", "user", "timeline"} <= _recovered(introspective, tmp_path)


def _recovered(server: LiveServer, tmp_path: Path) -> set[str]:
    """The field and type names clairvoyance rebuilds from the server's error messages."""
    wordlist, schema = tmp_path / "words.txt", tmp_path / "schema.json"
    wordlist.write_text("\n".join(WORDS) + "\n")
    done = subprocess.run(
        [
            "scripts/uv.sh",
            "tool",
            "run",
            "--from",
            CLAIRVOYANCE,
            "clairvoyance",
            server.url,
            "-w",
            str(wordlist),
            "-o",
            str(schema),
            "-m",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    recovered = json.loads(schema.read_text())["data"]["__schema"]
    names = {
        name
        for kind in recovered["types"]
        for name in [kind["name"], *(f["name"] for f in kind.get("fields") or [])]
        if not name.startswith("__")
    }
    # its own placeholder, and the names every GraphQL schema has
    return names - {"dummy", "Query", "Mutation", "Subscription", "String", "ID", "Int", "Float", "Boolean"}
