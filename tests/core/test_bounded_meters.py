"""Issue 17, finding 12: the rate meters and the cost model's remembered decisions hold only
recent users, so a long-lived process does not grow one entry per user for ever."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from murmur.domain import Delivery, UserId
from murmur.fanout.delivery_policy import CostModel, CostWeights, FollowerThreshold
from murmur.fanout.rates import FORGET_BELOW, RateMeter
from murmur.storage.sqlite import SqliteDatabase, SqliteFollowGraph


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HALF_LIFE = 60.0


def test_a_meter_forgets_users_whose_count_has_faded() -> None:
    clock = Clock()
    meter = RateMeter(half_life_seconds=HALF_LIFE, clock=clock)
    # a stream of users, each seen once, one a second, for 100 half-lives
    for i in range(6000):
        meter.record(UserId(f"u{i}"))
        clock.now += 1
    # a single event fades below FORGET_BELOW after log2(1/FORGET_BELOW) ≈ 10 half-lives;
    # sweeps come once a half-life: at most about 11 half-lives of users are held
    horizon = HALF_LIFE * (math.log2(1 / FORGET_BELOW) + 1)
    assert len(meter) <= horizon + 1
    assert len(meter) >= HALF_LIFE * 9  # the recent ones are all still there


def test_forgetting_changes_no_rate_that_counts() -> None:
    clock = Clock()
    meter = RateMeter(half_life_seconds=HALF_LIFE, clock=clock)
    busy, faded = UserId("busy"), UserId("faded")
    for _ in range(50):
        meter.record(busy)
    meter.record(faded)
    clock.now += HALF_LIFE * 11  # faded: 2**-11 < FORGET_BELOW; busy: 50 * 2**-11 > it
    expected_busy = 50 * 2**-11 * math.log(2) / HALF_LIFE
    meter.record(UserId("someone"))  # triggers a sweep
    assert meter.rate(faded) == 0.0
    assert meter.rate(busy) == pytest.approx(expected_busy)
    assert len(meter) == 2  # busy and someone


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[SqliteFollowGraph]:
    db = await SqliteDatabase.open(tmp_path / "graph.db", readers=1)
    yield SqliteFollowGraph(db=db)
    await db.close()


async def test_the_cost_model_forgets_expired_decisions(graph: SqliteFollowGraph) -> None:
    clock = Clock()
    reads, writes = (RateMeter(half_life_seconds=HALF_LIFE, clock=clock) for _ in range(2))
    policy = CostModel(
        graph=graph,
        reads=reads,
        writes=writes,
        weights=CostWeights(push_cost=1.0, pull_cost=1.0),
        fallback=FollowerThreshold(graph=graph, threshold=5),
        half_life_seconds=HALF_LIFE,
        sample=10,
        remember_seconds=30,
        clock=clock,
    )
    clock.now += HALF_LIFE + 1
    for i in range(1000):  # a new author every second
        assert await policy.decide(UserId(f"a{i}")) is Delivery.PUSHED
        clock.now += 1
    # only decisions younger than two remember periods are held
    assert policy.remembered() <= 60
    # a decision still fresh is reused, an expired one is made again from the rates
    author = UserId("a999")
    first = await policy.explain(author)
    writes.record(author)
    assert await policy.explain(author) is first
    clock.now += 30
    assert (await policy.explain(author)).author_write_rate > 0
