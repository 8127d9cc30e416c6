"""Helpers shared by tests: a real platform over a real SQLite file, with cheap password hashing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from murmur.platform import Platform, open_platform
from murmur.settings import Settings, Strategy

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


# the real wiring, as `murmur serve` does it
open_test_platform = open_platform


async def register(platform: Platform, name: str) -> str:
    session = await platform.accounts.register(username=name, password="correct-horse")
    return session.user.id
