"""Helpers shared by tests: a real platform over a real SQLite file, with cheap password hashing;
a slow client's trickle over a raw socket."""

from __future__ import annotations

import select
import socket
import time
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


def trickle(sock: socket.socket, chunk: bytes, *, within: float, every: float) -> bool:
    """Send `chunk` every `every` seconds, as a slow client does, until the server answers or
    closes (True: what it sent is left unread on the socket) or `within` seconds pass (False)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return True
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            return True
    return False
