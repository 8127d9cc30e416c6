"""Waiting on evidence instead of a fixed sleep: poll until a condition holds, with a deadline
generous enough for a loaded machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE_SECONDS = 30.0


async def until(
    check: Callable[[], Awaitable[T]],
    accept: Callable[[T], object] = bool,
    *,
    what: str,
    within: float = DEADLINE_SECONDS,
    every: float = 0.02,
) -> T:
    """The first value of check() that `accept` holds for; fails naming `what` and the last
    value if none does within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what} (last seen: {value!r})")
        await asyncio.sleep(every)


class Window:
    """A span of at least `seconds` that begins no earlier than this object is made: create it
    just before the call that starts a lease (or a delay), and a check that has returned while
    open() still holds ran inside that lease, however slow the machine. So a check that
    something is still hidden is only demanded while it provably is."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began = time.monotonic()

    def open(self) -> bool:
        return time.monotonic() - self.began < self.seconds
