"""Request latency per operation, with label values a client cannot inflate."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_helpers import Client, make_settings, running_app
from graphql import parse
from prometheus_client import REGISTRY

from api import observability
from api.observability import operation_labels
from murmur import settings as settings_module
from tests.servers._process import free_port


def count(operation: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "murmur_graphql_request_duration_seconds_count", {"operation": operation, "type": kind}
    )
    return value or 0.0


async def test_operations_are_timed_by_name_and_type(client: Client) -> None:
    before = count("WhoAmI", "query"), count("anonymous", "query"), count("invalid", "unknown")
    await client.execute("query WhoAmI { viewer { id } }")
    await client.execute("{ viewer { id } }")
    await client.execute("{ viewer { id ")  # does not parse
    after = count("WhoAmI", "query"), count("anonymous", "query"), count("invalid", "unknown")
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


@pytest.mark.parametrize(
    ("document", "requested", "labels"),
    [
        ("query A { a } mutation B { b }", "B", ("B", "mutation")),
        ("query A { a } query B { b }", None, ("invalid", "unknown")),  # ambiguous
        ("query A { a }", "Missing", ("invalid", "unknown")),
        ("subscription { s }", None, ("anonymous", "subscription")),
        (f"query {'N' * 100} {{ a }}", None, ("invalid", "query")),  # over 64 characters
    ],
)
def test_operation_labels(document: str, requested: str | None, labels: tuple[str, str]) -> None:
    assert operation_labels(parse(document), requested) == labels


def test_distinct_names_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observability, "_children", {})
    monkeypatch.setattr(observability, "MAX_OPERATION_NAMES", 3)
    for i in range(10):
        observability._histogram(f"Op{i}", "query").observe(0.001)
    assert {name for name, _ in observability._children} == {"Op0", "Op1", "Op2", "other"}


async def test_core_and_api_metrics_share_the_default_registry(client: Client) -> None:
    await client.register("counted")
    names = {metric.name for metric in REGISTRY.collect()}
    assert {"murmur_graphql_request_duration_seconds", "murmur_store_operations"} <= names


@pytest.mark.parametrize("explicit", [True, False])
async def test_production_serves_metrics_only_on_their_own_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explicit: bool
) -> None:
    port = free_port()
    if not explicit:  # production's default port, moved to a free one for the test
        monkeypatch.setattr(settings_module, "PRODUCTION_METRICS_PORT", port)
    production = make_settings(
        tmp_path,
        environment="production",
        auth={"jwt_secret": "2hfuCoZ6fM3o0erjZkUrRzxWJE-RK3QI_lMYeG2IsEINaRlz"},
        api={"metrics_port": port} if explicit else {},
    )
    async with running_app(production) as (_, public):
        assert (await public.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200 and "murmur_store_operations_total" in scraped.text
