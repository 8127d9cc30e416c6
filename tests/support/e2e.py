"""Settings of the real Murmur servers that the end-to-end tests start (tests/e2e)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from murmur.settings import Settings


def e2e_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "auth": {"hash_time_cost": 1, "hash_memory_kib": 8},
        "seed": {"enabled": False},
        # short long-polls: fan-out reacts quickly and shutdown is fast
        "workers": {"in_process": 2, "wait_seconds": 0.05},
        # every test registers its own accounts, all from 127.0.0.1
        "rate_limit": {
            "login_per_ip": "100000/minute",
            "register_per_ip": "100000/hour",
            "new_query_bytes_per_ip": "100000000/minute",
        },
        **overrides,
    }
    return Settings(**values)
