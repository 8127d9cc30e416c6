"""FanoutLedger contract: a plan recorded once, chunks marked done once."""

from __future__ import annotations

import asyncio
import uuid

from murmur.storage.base import FanoutLedger


def task() -> str:
    return f"{uuid.uuid4().int % 10**15}:add"


async def test_the_first_plan_is_the_one_recorded(ledger: FanoutLedger) -> None:
    name = task()
    assert await ledger.plan(task=name, spans=["9:12", "5:9", "0:5"]) == ["9:12", "5:9", "0:5"]
    assert await ledger.plan(task=name, spans=["7:12", "0:7"]) == ["9:12", "5:9", "0:5"]
    assert await ledger.plan(task=task(), spans=["0:1"]) == ["0:1"]


async def test_planners_racing_agree_on_one_plan(ledger: FanoutLedger) -> None:
    name = task()
    plans = await asyncio.gather(*(ledger.plan(task=name, spans=[f"{i}:{i + 1}"]) for i in range(5)))
    assert len({tuple(plan) for plan in plans}) == 1


async def test_each_chunk_is_finished_once_and_counted(ledger: FanoutLedger) -> None:
    name, other = task(), task()
    await ledger.plan(task=name, spans=["a", "b", "c"])

    assert await ledger.done(task=name) == set()
    assert await ledger.finish(task=name, chunk=2) == 1
    assert await ledger.finish(task=name, chunk=2) is None
    assert await ledger.finish(task=name, chunk=0) == 2
    assert await ledger.finish(task=other, chunk=0) == 1
    assert await ledger.done(task=name) == {0, 2}


async def test_workers_racing_to_finish_one_chunk_count_it_once(ledger: FanoutLedger) -> None:
    name = task()
    results = await asyncio.gather(*(ledger.finish(task=name, chunk=c) for c in (0, 0, 0, 1, 1)))
    assert sorted(r for r in results if r is not None) == [1, 2]
    assert await ledger.done(task=name) == {0, 1}
