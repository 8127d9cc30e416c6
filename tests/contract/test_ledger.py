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


async def test_each_chunk_is_finished_once_and_only_the_last_completes(ledger: FanoutLedger) -> None:
    name, other = task(), task()
    await ledger.plan(task=name, spans=["a", "b", "c"])

    assert await ledger.done(task=name) == set()
    assert await ledger.recorded(task=name) == ["a", "b", "c"]
    assert await ledger.recorded(task=other) is None
    assert await ledger.finish(task=name, chunk=2) is False
    assert await ledger.is_done(task=name, chunk=2)
    assert not await ledger.is_done(task=name, chunk=0)
    assert await ledger.finish(task=name, chunk=2) is False
    assert await ledger.finish(task=name, chunk=0) is False
    assert await ledger.done(task=name) == {0, 2}
    assert await ledger.finish(task=name, chunk=1) is True
    assert await ledger.finish(task=name, chunk=1) is False  # done: a redelivered last chunk
    assert await ledger.done(task=name) == {0, 1, 2}
    assert all([await ledger.is_done(task=name, chunk=c) for c in range(3)])
    assert not await ledger.is_done(task=other, chunk=0)


async def test_workers_racing_to_finish_chunks_complete_the_plan_once(ledger: FanoutLedger) -> None:
    name = task()
    await ledger.plan(task=name, spans=[str(c) for c in range(8)])
    results = await asyncio.gather(*(ledger.finish(task=name, chunk=c) for c in range(8) for _ in range(3)))
    assert results.count(True) == 1
    assert await ledger.done(task=name) == set(range(8))


async def test_a_finish_with_spans_records_them_unless_a_plan_is(ledger: FanoutLedger) -> None:
    alone, planned = task(), task()
    # a fan-out handled in place: recorded and completed in one call
    assert await ledger.finish(task=alone, chunk=0, spans=["0:1"]) is True
    assert await ledger.recorded(task=alone) == ["0:1"]
    assert await ledger.finish(task=alone, chunk=0, spans=["0:1"]) is False
    # a plan of two recorded first (the followers grew or shrank in between): it counts
    await ledger.plan(task=planned, spans=["a", "b"])
    assert await ledger.finish(task=planned, chunk=0, spans=["all"]) is False
    assert await ledger.recorded(task=planned) == ["a", "b"]
    assert await ledger.finish(task=planned, chunk=1) is True


async def test_in_place_finishes_racing_a_planner_complete_once(ledger: FanoutLedger) -> None:
    name = task()
    results = await asyncio.gather(
        ledger.finish(task=name, chunk=0, spans=["x"]),
        ledger.finish(task=name, chunk=0, spans=["x"]),
        ledger.plan(task=name, spans=["a", "b"]),
    )
    plan = await ledger.recorded(task=name)
    finished = [r for r in results[:2] if r is True]
    if plan == ["x"]:
        assert len(finished) == 1
    else:
        assert plan == ["a", "b"] and not finished
        assert await ledger.finish(task=name, chunk=1) is True
