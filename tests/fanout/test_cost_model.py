"""The cost-model hybrid's rule (Feeding Frenzy, per author) over measured rates."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from murmur.domain import Delivery, UserId
from murmur.fanout.delivery_policy import CostModel, CostWeights, FollowerThreshold
from murmur.fanout.rates import RateMeter
from murmur.storage.sqlite import SqliteDatabase, SqliteFollowGraph


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_rate_is_events_per_second_and_halves_each_half_life() -> None:
    clock = Clock()
    meter = RateMeter(half_life_seconds=10, clock=clock)
    for _ in range(100):  # one event a second for 100 s: the rate settles near 1/s
        meter.record(UserId("1"))
        clock.now += 1
    assert meter.rate(UserId("1")) == pytest.approx(1.0, rel=0.05)
    before = meter.rate(UserId("1"))
    clock.now += 10
    assert meter.rate(UserId("1")) == pytest.approx(before / 2)
    assert meter.rate(UserId("2")) == 0.0
    assert meter.mean_rate([UserId("1"), UserId("2")]) == pytest.approx(before / 4)
    assert meter.watched_seconds() == pytest.approx(110)


@pytest.fixture
async def graph(tmp_path: Path) -> AsyncIterator[SqliteFollowGraph]:
    db = await SqliteDatabase.open(tmp_path / "graph.db", readers=1)
    yield SqliteFollowGraph(db=db)
    await db.close()


AUTHOR = UserId("100")
FANS = [UserId(str(i)) for i in range(1, 11)]


async def model(
    graph: SqliteFollowGraph, clock: Clock, *, push_cost: float, pull_cost: float, remember: float = 0
) -> tuple[CostModel, RateMeter, RateMeter]:
    await graph.follow_many(pairs=[(fan, AUTHOR) for fan in FANS])
    reads, writes = (RateMeter(half_life_seconds=60, clock=clock) for _ in range(2))
    policy = CostModel(
        graph=graph,
        reads=reads,
        writes=writes,
        weights=CostWeights(push_cost=push_cost, pull_cost=pull_cost),
        fallback=FollowerThreshold(graph=graph, threshold=5),
        half_life_seconds=60,
        sample=100,
        remember_seconds=remember,
        clock=clock,
    )
    return policy, reads, writes


async def test_followers_who_read_more_often_than_the_author_writes_get_pushes(
    graph: SqliteFollowGraph,
) -> None:
    clock = Clock()
    policy, reads, writes = await model(graph, clock, push_cost=1.0, pull_cost=1.0)
    # before one half-life there are no rates: the threshold rule (10 followers > 5: pull)
    assert await policy.decide(AUTHOR) is Delivery.PULLED
    clock.now += 61
    for _ in range(3):  # every follower reads three times for each post the author writes
        for fan in FANS:
            reads.record(fan)
    writes.record(AUTHOR)
    decision = await policy.explain(AUTHOR)
    assert decision.followers_read_rate == pytest.approx(3 * decision.author_write_rate)
    assert decision.delivery is Delivery.PUSHED
    # the author now writes five posts per follower read: pulling is cheaper
    for _ in range(14):
        writes.record(AUTHOR)
    assert await policy.decide(AUTHOR) is Delivery.PULLED


async def test_the_measured_costs_weigh_the_rates(graph: SqliteFollowGraph) -> None:
    clock = Clock()
    # a push costs ten times a pull: followers must read ten times as often as the author writes
    policy, reads, writes = await model(graph, clock, push_cost=10.0, pull_cost=1.0)
    clock.now += 61
    writes.record(AUTHOR)
    for _ in range(9):
        for fan in FANS:
            reads.record(fan)
    assert await policy.decide(AUTHOR) is Delivery.PULLED
    for fan in FANS:
        reads.record(fan)
    assert await policy.decide(AUTHOR) is Delivery.PUSHED


async def test_a_decision_is_reused_for_a_while_then_made_again(graph: SqliteFollowGraph) -> None:
    clock = Clock()
    policy, reads, writes = await model(graph, clock, push_cost=1.0, pull_cost=1.0, remember=5.0)
    clock.now += 61
    writes.record(AUTHOR)
    assert await policy.decide(AUTHOR) is Delivery.PULLED  # nobody reads
    for _ in range(5):
        for fan in FANS:
            reads.record(fan)
    assert await policy.decide(AUTHOR) is Delivery.PULLED  # remembered
    clock.now += 5
    assert await policy.decide(AUTHOR) is Delivery.PUSHED
    assert not math.isnan((await policy.explain(AUTHOR)).followers_read_rate)


async def test_an_author_nobody_follows_is_pushed(graph: SqliteFollowGraph) -> None:
    clock = Clock()
    policy, _, writes = await model(graph, clock, push_cost=1.0, pull_cost=1.0)
    clock.now += 61
    writes.record(UserId("555"))
    assert await policy.decide(UserId("555")) is Delivery.PUSHED
