"""The scaling decision (murmur_operator.decision): examples, then properties over histories."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from murmur_operator.decision import Decision, Memory, Policy, QueueCounts, Reading, decide

POLICY = Policy(
    min_replicas=0,
    max_replicas=20,
    polling_seconds=5,
    messages_per_replica=2,
    stabilization_seconds=15,
    scale_down_step=3,
    scale_to_zero_cooldown_seconds=30,
)


def run(policy: Policy, readings: list[Reading], memory: Memory | None = None) -> list[Decision]:
    memory = memory or Memory()
    out = []
    for reading in readings:
        decision = decide(policy, reading, memory)
        memory = decision.memory
        out.append(decision)
    return out


def counts(visible: int, in_flight: int = 0, delayed: int = 0) -> QueueCounts:
    return QueueCounts(visible=visible, in_flight=in_flight, delayed=delayed)


def test_a_pool_at_zero_wakes_on_a_second_sighting_and_not_on_one() -> None:
    spike, quiet = run(POLICY, [Reading(0, 0, counts(4)), Reading(1, 0, counts(0))])
    assert (spike.desired, spike.recheck_soon) == (0, True)
    assert quiet.desired == 0
    first, second = run(POLICY, [Reading(0, 0, counts(4)), Reading(1, 0, counts(4))])
    assert first.desired == 0 and second.desired == 2  # 4 messages at 2 per replica


def test_scale_up_is_immediate_and_clamped_with_the_limit_reported() -> None:
    (up,) = run(POLICY, [Reading(0, 2, counts(100))])
    assert up.desired == 20 and up.limited


def test_scale_down_waits_out_the_window_then_steps() -> None:
    readings = [Reading(5.0 * i, 10, counts(0)) for i in range(6)]
    desired = [d.desired for d in run(POLICY, readings, Memory(recommendations=((0.0, 10),)))]
    assert desired[:3] == [10, 10, 10]  # 0, 5, 10 and 15 s: a recommendation of 10 still in the window
    assert desired[4] == 7  # then at most 3 at a time


def test_only_idle_workers_are_removed() -> None:
    memory = Memory(recommendations=((-100.0, 10),))
    (down,) = run(POLICY, [Reading(0, 10, counts(0, 4), pods_in_flight=4, idle_pods=1)], memory)
    assert down.desired == 9


def test_never_to_zero_while_a_worker_holds_a_message_or_within_the_cooldown() -> None:
    memory = Memory(recommendations=((-100.0, 1),), last_active_at=-100.0)
    (busy,) = run(POLICY, [Reading(0, 1, counts(0), pods_in_flight=1, idle_pods=0)], memory)
    assert busy.desired == 1
    recent = replace(memory, last_active_at=-10.0)
    (cooling,) = run(POLICY, [Reading(0, 1, counts(0), pods_in_flight=0, idle_pods=1)], recent)
    assert cooling.desired == 1
    (asleep,) = run(POLICY, [Reading(0, 1, counts(0), pods_in_flight=0, idle_pods=1)], memory)
    assert asleep.desired == 0


def test_the_drain_target_sizes_the_pool_from_the_slowest_measured_rate() -> None:
    policy = replace(POLICY, drain_seconds=10, initial_replica_throughput=1.0)
    # saturated at both readings: 4 ready replicas settled 8 messages/s, 2 each
    first, second = run(
        policy,
        [
            Reading(0, 4, counts(100), ready=4),
            Reading(5, 4, counts(90), ready=4, completed_per_second=8.0),
        ],
    )
    assert first.desired == 10  # 100 at the assumed 1/s each drains in 10 s
    assert second.memory.replica_throughput == 2.0
    assert second.desired == 5  # 90 at 2/s each


def test_delayed_messages_count_only_when_asked() -> None:
    (without,) = run(POLICY, [Reading(0, 1, counts(0, 0, delayed=10))])
    (with_delayed,) = run(replace(POLICY, include_delayed=True), [Reading(0, 1, counts(0, 0, delayed=10))])
    assert without.backlog == 0 and with_delayed.backlog == 10 and with_delayed.desired == 5


def test_bad_policies_are_refused() -> None:
    for bad in ({"min_replicas": 5, "max_replicas": 2}, {"messages_per_replica": 0}, {"drain_seconds": -1}):
        with pytest.raises(ValueError):
            Policy(**bad)  # type: ignore[arg-type]


# --- properties over random histories -------------------------------------------------

policies = st.builds(
    Policy,
    min_replicas=st.integers(0, 3),
    max_replicas=st.integers(3, 40),
    polling_seconds=st.sampled_from([1.0, 5.0]),
    messages_per_replica=st.sampled_from([1.0, 2.0, 5.0]),
    drain_seconds=st.one_of(st.none(), st.sampled_from([10.0, 30.0])),
    stabilization_seconds=st.sampled_from([0.0, 15.0, 60.0]),
    scale_down_step=st.integers(1, 5),
    scale_to_zero_cooldown_seconds=st.sampled_from([0.0, 30.0]),
)
observations = st.lists(
    st.tuples(
        st.one_of(st.none(), st.tuples(st.integers(0, 500), st.integers(0, 50), st.integers(0, 20))),
        st.integers(0, 5),  # workers holding messages
        st.one_of(st.none(), st.floats(0, 50)),  # completions a second
    ),
    min_size=1,
    max_size=40,
)


def replay(
    policy: Policy, history: list[tuple[tuple[int, int, int] | None, int, float | None]]
) -> list[tuple[Reading, Decision]]:
    """Apply each decision (the pool becomes what was asked), poll by poll."""
    memory, current, out = Memory(), policy.min_replicas, []
    for step, (queue, holding, rate) in enumerate(history):
        holding = min(holding, current)
        reading = Reading(
            at=step * policy.polling_seconds,
            current=current,
            counts=None if queue is None else counts(*queue),
            ready=current,
            pods_in_flight=holding,
            idle_pods=current - holding,
            completed_per_second=rate,
        )
        decision = decide(policy, reading, memory)
        out.append((reading, decision))
        memory, current = decision.memory, decision.desired
    return out


@settings(max_examples=300, deadline=None)
@given(policies, observations)
def test_always_within_the_limits(policy: Policy, history: list) -> None:  # type: ignore[type-arg]
    for _, decision in replay(policy, history):
        assert policy.min_replicas <= decision.desired <= policy.max_replicas


@settings(max_examples=300, deadline=None)
@given(policies, observations)
def test_never_below_current_while_the_backlog_grows(policy: Policy, history: list) -> None:  # type: ignore[type-arg]
    last_backlog = None
    for reading, decision in replay(policy, history):
        if decision.backlog is None:
            continue
        if last_backlog is not None and decision.backlog > last_backlog:
            assert decision.desired >= reading.current
        last_backlog = decision.backlog


@settings(max_examples=300, deadline=None)
@given(policies, observations)
def test_never_to_zero_while_anything_is_in_flight(policy: Policy, history: list) -> None:  # type: ignore[type-arg]
    for reading, decision in replay(policy, history):
        if reading.current > 0 and decision.in_flight:
            assert decision.desired > 0


@settings(max_examples=300, deadline=None)
@given(policies, observations)
def test_an_unreadable_queue_holds(policy: Policy, history: list) -> None:  # type: ignore[type-arg]
    for reading, decision in replay(policy, history):
        if reading.counts is None:
            assert decision.desired == reading.current


@settings(max_examples=300, deadline=None)
@given(
    policies,
    st.tuples(st.integers(0, 500), st.integers(0, 50), st.integers(0, 20)),
    st.integers(0, 5),
    st.integers(0, 40),
    st.integers(20, 60),
)
def test_constant_load_never_flaps(
    policy: Policy, queue: tuple[int, int, int], holding: int, start: int, polls: int
) -> None:
    """Under a constant reading the replicas move one way only, then stay."""
    start = min(max(start, policy.min_replicas), policy.max_replicas)
    memory, current, seen = Memory(), start, [start]
    for step in range(polls):
        reading = Reading(
            at=step * policy.polling_seconds,
            current=current,
            counts=counts(*queue),
            ready=current,
            pods_in_flight=min(holding, current),
            idle_pods=current - min(holding, current),
        )
        decision = decide(policy, reading, memory)
        memory, current = decision.memory, decision.desired
        seen.append(current)
    moves = [b - a for a, b in itertools.pairwise(seen) if b != a]
    assert all(m > 0 for m in moves) or all(m < 0 for m in moves), seen
