"""Store calls that fail or stall on purpose, one named call at a time.

`Faults` is a checkpoint for interleaving.gated: every store call of the wrapped backends
passes it first, so a test says "the next refill raises a throttle" or "the graph write
waits until I let it go" and the code under test meets the fault where a real store
would raise it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from interleaving import Checkpoint, gated

from murmur.domain import IdGenerator, RetryableStoreError
from murmur.platform import Platform, assemble
from murmur.settings import Settings
from murmur.storage.factory import open_backends


class Faults:
    def __init__(self) -> None:
        self._failures: dict[str, list[BaseException]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self.calls: Counter[str] = Counter()  # "<store>.<method>" -> how often it was called
        self.held = asyncio.Event()  # set when a call starts waiting at a hold
        self._holding: Counter[str] = Counter()  # calls waiting at each hold, or let through it
        self._hold_reached = asyncio.Condition()

    def fail(self, call: str, *, times: int = 1, error: BaseException | None = None) -> None:
        """The next `times` calls of `call` raise `error` (a throttle by default) before reaching the store."""
        self._failures.setdefault(call, []).extend(
            [error or RetryableStoreError(f"injected: {call} throttled")] * times
        )

    def hold(self, call: str) -> asyncio.Event:
        """Calls of `call` wait until the returned event is set (a slow store call)."""
        return self._holds.setdefault(call, asyncio.Event())

    def pending(self, call: str) -> int:
        """Injected failures of `call` not raised yet."""
        return len(self._failures.get(call, []))

    async def passing(self, call: str) -> None:
        self.calls[call] += 1
        failures = self._failures.get(call)
        if failures:
            raise failures.pop(0)
        release = self._holds.get(call)
        if release is not None and not release.is_set():
            self.held.set()
            async with self._hold_reached:
                self._holding[call] += 1
                self._hold_reached.notify_all()
            await release.wait()

    async def until_holding(self, call: str, count: int) -> None:
        """Until `count` calls of `call` have reached its hold."""
        async with self._hold_reached:
            await self._hold_reached.wait_for(lambda: self._holding[call] >= count)

    def clear(self) -> None:
        """Forget every injected failure not raised yet (holds stay)."""
        self._failures.clear()


class Checkpoints:
    """Several checkpoints as one, passed in order: e.g. a Gate (the call waits for its turn)
    then Faults (the call, when it is taken, fails)."""

    def __init__(self, *checkpoints: Checkpoint) -> None:
        self._checkpoints = checkpoints

    async def passing(self, call: str) -> None:
        for checkpoint in self._checkpoints:
            await checkpoint.passing(call)


@contextlib.asynccontextmanager
async def platform_with(
    settings: Settings,
    faults: Checkpoint,
    *,
    node: int = 1,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AsyncIterator[Platform]:
    """A platform whose every store call passes `faults` first: one process of its own."""
    real = await open_backends(settings)
    try:
        yield assemble(settings, gated(real, faults), ids=IdGenerator(node), clock=clock)
    finally:
        await real.close()
