"""A real Platform over a real SQLite file per test, and a client running GraphQL against it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_helpers import Client, make_settings

from api.schema import build_schema
from murmur.platform import Platform, open_platform
from murmur.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with open_platform(settings) as opened:
        yield opened


@pytest.fixture
def client(settings: Settings, platform: Platform) -> Client:
    return Client(build_schema(settings), platform)
