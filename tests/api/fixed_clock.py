"""A fixed time.time() for the rate limits (api/rate_limit.py) and the limits library's
in-memory counters and windows, which all read it as `time.time()`: one instant until a
test moves it, so budgets, windows and backoff slots are exact and nothing waits."""

from __future__ import annotations

import limits.aio.storage.memory
import limits.aio.strategies
import limits.storage.memory
import limits.strategies
import pytest

import api.rate_limit

# 15 s into a minute (1_700_000_040 is a multiple of 60): a budget per minute spent now
# resets at the next minute, 45 s later
START = 1_700_000_055.0
TO_NEXT_MINUTE = 45


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fix_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Stop the clocks the rate limits read at START (undone with the monkeypatch)."""
    fixed = Clock(START)
    for module in (
        api.rate_limit,
        limits.strategies,
        limits.storage.memory,
        limits.aio.strategies,
        limits.aio.storage.memory,
    ):
        monkeypatch.setattr(module, "time", fixed)
    return fixed
