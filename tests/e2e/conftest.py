"""Real Murmur servers for end-to-end tests: one shared server, and one per fan-out strategy on demand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_server import LiveServer, serving

from murmur.settings import Strategy
from tests.support.e2e import e2e_settings


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Hybrid, with every author past the threshold, so pushed and pulled posts both appear."""
    yield from serving(
        e2e_settings(tmp_path_factory.mktemp("e2e"), fanout=Strategy.HYBRID, hybrid_threshold=0)
    )


@pytest.fixture(scope="module", params=list(Strategy), ids=lambda strategy: strategy.value)
def strategy_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    strategy: Strategy = request.param
    yield from serving(e2e_settings(tmp_path_factory.mktemp(f"e2e-{strategy.value}"), fanout=strategy))


@pytest.fixture(scope="session")
def locked_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Introspection and GraphiQL off, as in production."""
    settings = e2e_settings(
        tmp_path_factory.mktemp("e2e-locked"),
        api={"introspection": False, "graphiql": False},
        workers={"in_process": 0},
    )
    yield from serving(settings)
