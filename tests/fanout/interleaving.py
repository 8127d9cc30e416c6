"""Deterministic interleavings of fan-out workers, one store call at a time.

Every store of a platform is wrapped so that a *controlled* task stops before each
store call until the test lets it take that call (`Gate.advance`). Tasks the test does
not control (the API's operations, subtasks a handler gathers) pass straight through.
So a hypothesis rule can say "worker 2 takes its next store call now", and the races a
reviewer found by hand — a chunk reading followers, an unfollow landing, the chunk
writing — are generated, replayed and shrunk like any other example.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields
from typing import Any, Protocol

from murmur.storage.base import Queue, QueueMessage
from murmur.storage.bundle import Backends

_STORES = ("users", "posts", "graph", "timelines", "cache", "bus", "queue", "bulk_queue", "ledger")


class Checkpoint(Protocol):
    """What a wrapped store awaits before each call: a Gate here, injected faults in faults.py."""

    async def passing(self, call: str) -> None: ...


class Gate:
    def __init__(self) -> None:
        self._controlled: set[asyncio.Task[Any]] = set()
        self._parked: dict[asyncio.Task[Any], asyncio.Future[None]] = {}
        self.parked_at: dict[asyncio.Task[Any], str] = {}  # "<store>.<method>" each waits to call
        self._changed = asyncio.Event()
        self.open = False  # everyone passes (converging at the end)

    def start(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._controlled.add(task)
        task.add_done_callback(self._finished)
        return task

    async def passing(self, call: str) -> None:
        """Called before every store call: a controlled task waits here for its turn."""
        task = asyncio.current_task()
        if self.open or task not in self._controlled:
            return
        future = asyncio.get_running_loop().create_future()
        self._parked[task] = future
        self.parked_at[task] = call
        self._changed.set()
        await future

    async def settle(self, task: asyncio.Task[Any]) -> None:
        """Run the loop until the task waits at the gate or has ended."""
        while not (task.done() or task in self._parked):
            self._changed.clear()
            await self._changed.wait()

    async def advance(self, task: asyncio.Task[Any]) -> None:
        """Let the task take its next store call, and run it up to the one after."""
        future = self._parked.pop(task, None)
        if future is not None:
            future.set_result(None)
        await self.settle(task)

    async def release_all(self) -> None:
        """Open the gate: every parked task goes on, and none stops again."""
        self.open = True
        for future in self._parked.values():
            future.set_result(None)
        self._parked.clear()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._controlled.discard(task)
        self._parked.pop(task, None)
        self.parked_at.pop(task, None)
        self._changed.set()


class _Gated:
    """A store whose coroutine methods wait at the gate first; everything else is the store's."""

    def __init__(self, inner: Any, gate: Checkpoint, store: str) -> None:
        self._inner = inner
        self._gate = gate
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        call = f"{self._store}.{name}"

        async def gated(*args: Any, **kwargs: Any) -> Any:
            await self._gate.passing(call)
            return await attr(*args, **kwargs)

        return gated


def gated(backends: Backends, gate: Checkpoint) -> Backends:
    """The same backends, every store behind the gate (closing still closes the real ones)."""
    values = {f.name: getattr(backends, f.name) for f in fields(backends)}
    for name in _STORES:
        values[name] = _Gated(values[name], gate, name)
    return Backends(**values)


@dataclass
class Worker:
    """One message in the hands of a controlled task."""

    queue: Queue
    message: QueueMessage
    task: asyncio.Task[None]


async def take(
    gate: Gate,
    queue: Queue,
    handle: Callable[[bytes], Coroutine[Any, Any, None]],
    name: str,
    *,
    pick: int = 0,
) -> Worker | None:
    """Receive a message (the `pick`-th of those waiting, up to ten; the others go back) and
    start handling it under the gate, parked before its first store call."""
    messages = await queue.receive(max_messages=10 if pick else 1, wait_seconds=0)
    if not messages:
        return None
    chosen = messages[pick % len(messages)]
    others = [m.receipt for m in messages if m is not chosen]
    if others:
        await queue.release(receipts=others)
    task = gate.start(handle(chosen.body), name=name)
    await gate.settle(task)
    return Worker(queue=queue, message=chosen, task=task)
