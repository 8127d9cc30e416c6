"""Helpers shared by tests: a real platform over a real SQLite file, with cheap password hashing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from murmur.platform import Platform, assemble
from murmur.settings import Settings, Strategy
from murmur.storage.factory import open_backends

FAST_HASHING = {"hash_time_cost": 1, "hash_memory_kib": 8}


def make_settings(data_dir: Path, *, strategy: Strategy = Strategy.HYBRID, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "fanout": strategy,
        "auth": FAST_HASHING,
        "seed": {"enabled": False},
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def open_test_platform(settings: Settings) -> AsyncIterator[Platform]:
    backends = await open_backends(settings)
    try:
        yield assemble(settings, backends)
    finally:
        await backends.close()


async def register(platform: Platform, name: str) -> str:
    session = await platform.accounts.register(username=name, password="password123")
    return session.user.id
