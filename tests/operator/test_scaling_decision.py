"""The scaling decision (murmur_operator.decision): examples, then properties over histories."""

from __future__ import annotations

import itertools
from collections.abc import Callable
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


# --- issue 18: the branches and boundaries no example reached ---------------------------


def asleep_after(at: float, *, last_active_at: float | None = None) -> Memory:
    """Memory whose window holds only zeros, so nothing but the cooldown keeps a replica."""
    return Memory(recommendations=((at - 1.0, 0),), last_active_at=last_active_at)


def test_a_pool_above_a_lowered_max_is_brought_down_to_it_at_once() -> None:
    """maxReplicas lowered from 20 to 5 under 12 replicas: straight to 5, past the step (3),
    the stabilisation window (full of 12), busy workers and a growing backlog alike."""
    policy = replace(POLICY, max_replicas=5)
    window = Memory(recommendations=((0.0, 12),), last_backlog=10)
    for reading in (
        Reading(1, 12, counts(0)),
        Reading(1, 12, counts(500, 12), pods_in_flight=12, idle_pods=0),  # growing, all busy
    ):
        (down,) = run(policy, [reading], window)
        assert (down.desired, down.limited) == (5, True), down.reason
        assert "above maxReplicas 5" in down.reason
    # at the new maximum it holds there, still reporting the limit
    (held,) = run(policy, [Reading(2, 5, counts(500))], window)
    assert (held.desired, held.limited) == (5, True)


def test_scale_down_steps_to_the_target_and_never_past_it() -> None:
    old = Memory(recommendations=((-100.0, 10),))
    readings = [Reading(100.0 + 5 * i, current, counts(0)) for i, current in enumerate([10, 7, 4, 1])]
    assert [d.desired for d in run(POLICY, readings, old)] == [7, 4, 1, 0]
    # a target of 8 (16 messages at 2 each) is one step of 2, not 3
    (down,) = run(POLICY, [Reading(0, 10, counts(16))], old)
    assert down.desired == 8
    # scaling up takes no steps: 13 messages at 2 each need 7 now
    (up,) = run(POLICY, [Reading(0, 2, counts(13))])
    assert up.desired == 7 and not up.limited


def test_min_replicas_holds_the_floor_and_lifts_a_pool_below_it() -> None:
    policy = replace(POLICY, min_replicas=2)
    old = Memory(recommendations=((-100.0, 5),))
    first, second = run(policy, [Reading(0, 5, counts(0)), Reading(5, 2, counts(0))], old)
    assert (first.desired, first.limited) == (2, True)  # one step of 3 lands on the floor
    assert (second.desired, second.limited) == (2, True)  # and it stays there
    (lifted,) = run(policy, [Reading(0, 0, counts(0))])  # no backlog, but below the minimum
    assert lifted.desired == 2


def test_the_stabilisation_window_ends_exactly_at_its_length() -> None:
    """A recommendation 15 s old (the window's length) still holds the pool; older, it does not."""
    memory = Memory(recommendations=((0.0, 10),))
    (inside,) = run(POLICY, [Reading(15.0, 10, counts(0))], memory)
    assert inside.desired == 10
    (outside,) = run(POLICY, [Reading(15.5, 10, counts(0))], memory)
    assert outside.desired == 7
    # a restarted operator (no memory) watches a whole window before it removes anything
    (restarted,) = run(POLICY, [Reading(1000.0, 10, counts(0))])
    assert restarted.desired == 10


def test_the_scale_to_zero_cooldown_ends_exactly_at_its_length() -> None:
    """Active 30 s ago (the cooldown): the last replica may go; 29.5 s ago, it stays."""
    at = 1000.0
    idle = Reading(at, 1, counts(0), pods_in_flight=0, idle_pods=1)
    (cooled,) = run(POLICY, [idle], asleep_after(at, last_active_at=at - 30.0))
    assert cooled.desired == 0
    (cooling,) = run(POLICY, [idle], asleep_after(at, last_active_at=at - 29.5))
    assert cooling.desired == 1
    (never_active,) = run(POLICY, [idle], asleep_after(at))
    assert never_active.desired == 0
    # a backlog seen now is activity now: the cooldown starts again
    (busy,) = run(POLICY, [replace(idle, counts=counts(0, 1))], asleep_after(at, last_active_at=at - 300))
    assert busy.desired == 1 and busy.memory.last_active_at == at


def test_waking_needs_the_activation_backlog_and_a_second_sighting_within_three_polls() -> None:
    policy = replace(POLICY, activation_backlog=5)
    (below,) = run(policy, [Reading(0, 0, counts(4))])
    assert (below.desired, below.recheck_soon) == (0, False)
    (at_activation,) = run(policy, [Reading(0, 0, counts(5))])
    assert (at_activation.desired, at_activation.recheck_soon) == (0, True)
    # three polling intervals (15 s) after the first sighting still confirms it ...
    _, woken = run(policy, [Reading(0, 0, counts(5)), Reading(15.0, 0, counts(5))])
    assert woken.desired == 3  # 5 messages at 2 per replica, rounded up
    # ... later, it is a first sighting again
    _, again = run(policy, [Reading(0, 0, counts(5)), Reading(15.5, 0, counts(5))])
    assert (again.desired, again.recheck_soon) == (0, True)


def test_a_throughput_sample_is_taken_only_while_the_pool_is_saturated() -> None:
    """Work waiting at this reading and the one before means every ready replica was busy:
    only then is the rate a replica's capacity. A pool that ran out of work (or had none
    waiting before) completed what arrived, which says nothing about what it can do."""
    policy = replace(POLICY, drain_seconds=10, initial_replica_throughput=1.0)
    unsaturated = [
        # drained: 2 waiting, then none, at 0.4/s across 4 replicas (0.1 each)
        [Reading(0, 4, counts(2), ready=4), Reading(5, 4, counts(0), ready=4, completed_per_second=0.4)],
        # nothing waited before: the first arrivals
        [Reading(0, 4, counts(0, 4), ready=4), Reading(5, 4, counts(8), ready=4, completed_per_second=0.4)],
        # only in flight at both readings: nobody waited for a worker
        [
            Reading(0, 4, counts(0, 4), ready=4),
            Reading(5, 4, counts(0, 4), ready=4, completed_per_second=0.4),
        ],
        # a first reading has no earlier one to compare with
        [Reading(5, 4, counts(8), ready=4, completed_per_second=0.4)],
        # saturated, but no replica ready to have done the work
        [Reading(0, 4, counts(9), ready=0), Reading(5, 4, counts(8), ready=0, completed_per_second=0.4)],
    ]
    for readings in unsaturated:
        decisions = run(policy, readings)
        assert decisions[-1].memory.replica_throughput is None, readings
        # so a later backlog is sized at the assumed 1/s per replica, not at 0.1/s
        (sized,) = run(policy, [Reading(10, 4, counts(100), ready=4)], decisions[-1].memory)
        assert sized.desired == 10, readings
    # saturated at both: the rate is shared by the ready replicas only (8/s over 2 of 4)
    _, measured = run(
        policy,
        [Reading(0, 4, counts(50), ready=2), Reading(5, 4, counts(40), ready=2, completed_per_second=8.0)],
    )
    assert measured.memory.throughput_samples == ((5, 4.0),)


def test_the_slowest_sample_of_the_last_five_minutes_counts() -> None:
    """Samples 300 s old (the memory's length) still count; older ones are forgotten."""
    policy = replace(POLICY, drain_seconds=10)
    memory = Memory(
        last_at=0.0, last_backlog=100, last_visible=100, throughput_samples=((0.0, 0.5), (200.0, 2.0))
    )
    (kept,) = run(policy, [Reading(300.0, 4, counts(100), ready=4, completed_per_second=12.0)], memory)
    assert kept.memory.replica_throughput == 0.5  # 0.5 (300 s old), 2.0 and 3.0
    assert kept.desired == 20  # 100 at 0.5/s each drain in 10 s with 20
    (forgot,) = run(policy, [Reading(300.5, 4, counts(100), ready=4, completed_per_second=12.0)], memory)
    assert forgot.memory.throughput_samples == ((200.0, 2.0), (300.5, 3.0))
    assert forgot.desired == 5  # 100 at 2/s each


def test_a_target_is_rounded_up_and_never_more_replicas_than_messages() -> None:
    (per_replica,) = run(POLICY, [Reading(0, 1, counts(5))])
    assert per_replica.desired == 3  # 5 messages at 2 per replica
    drain = replace(POLICY, drain_seconds=10, initial_replica_throughput=1.0)
    (drained,) = run(drain, [Reading(0, 1, counts(11))])
    assert drained.desired == 2  # 11 messages at 1/s drain in 10 s with 2
    slow = Memory(throughput_samples=((0.0, 0.001),))
    (tiny,) = run(drain, [Reading(1, 1, counts(3))], slow)
    assert tiny.desired == 3  # at 0.001/s each, still one replica per message at most


# --- issue 18: what each branch reports, the policy's limits, the counting ----------------

REPLICAS = "replicas need 0 <= minReplicas <= maxReplicas and maxReplicas >= 1"
POSITIVE = "the polling interval and messages per replica must be positive"
DRAIN = "the target drain time must be positive"
THROUGHPUT = "the initial replica throughput must be positive"
AT_LEAST_ONE = "the scale-down step and the activation backlog are at least 1"
NEGATIVE = "windows and cooldowns cannot be negative"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: Policy(max_replicas=0), REPLICAS, id="max-0"),
        pytest.param(lambda: Policy(min_replicas=-1), REPLICAS, id="min-negative"),
        pytest.param(lambda: Policy(min_replicas=3, max_replicas=2), REPLICAS, id="min-above-max"),
        pytest.param(lambda: Policy(polling_seconds=0), POSITIVE, id="polling-0"),
        pytest.param(lambda: Policy(messages_per_replica=0), POSITIVE, id="per-replica-0"),
        pytest.param(lambda: Policy(drain_seconds=0), DRAIN, id="drain-0"),
        pytest.param(lambda: Policy(initial_replica_throughput=0), THROUGHPUT, id="throughput-0"),
        pytest.param(lambda: Policy(scale_down_step=0), AT_LEAST_ONE, id="step-0"),
        pytest.param(lambda: Policy(activation_backlog=0), AT_LEAST_ONE, id="activation-0"),
        pytest.param(lambda: Policy(stabilization_seconds=-0.5), NEGATIVE, id="window-negative"),
        pytest.param(lambda: Policy(scale_to_zero_cooldown_seconds=-0.5), NEGATIVE, id="cooldown-negative"),
    ],
)
def test_each_invalid_policy_is_refused_with_its_reason(make: Callable[[], Policy], message: str) -> None:
    """Each condition on its own (the others valid): the operator reports the message to
    the user in the resource's status, so it must name the rule that was broken."""
    with pytest.raises(ValueError) as refused:
        make()
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Policy(max_replicas=1), id="max-1"),
        pytest.param(lambda: Policy(min_replicas=1, max_replicas=1), id="min-equals-max-1"),
        pytest.param(lambda: Policy(min_replicas=10, max_replicas=10), id="min-equals-max"),
        pytest.param(lambda: Policy(polling_seconds=0.01), id="polling-just-positive"),
        pytest.param(lambda: Policy(messages_per_replica=0.01), id="per-replica-just-positive"),
        pytest.param(lambda: Policy(drain_seconds=0.5), id="drain-under-a-second"),
        pytest.param(lambda: Policy(initial_replica_throughput=0.01), id="throughput-just-positive"),
        pytest.param(lambda: Policy(scale_down_step=1, activation_backlog=1), id="step-and-activation-1"),
        pytest.param(
            lambda: Policy(stabilization_seconds=0, scale_to_zero_cooldown_seconds=0),
            id="no-window-no-cooldown",
        ),
    ],
)
def test_each_policy_at_the_edge_is_accepted_and_usable(make: Callable[[], Policy]) -> None:
    policy = make()
    (up,) = run(policy, [Reading(0, 1, counts(1_000))])
    assert up.desired == policy.max_replicas  # a huge backlog: straight to the maximum


def test_the_backlog_counts_visible_in_flight_and_delayed_messages() -> None:
    assert counts(3, 2, 4).backlog(include_delayed=False) == 5
    assert counts(3, 2, 4).backlog(include_delayed=True) == 9
    (read,) = run(POLICY, [Reading(0, 1, counts(3, 2, 4))])
    assert (read.backlog, read.in_flight, read.desired) == (5, 2, 3)  # 5 at 2 per replica


def test_an_unreadable_queue_holds_and_reports_nothing_measured() -> None:
    memory = Memory(last_at=0.0, last_backlog=10, last_visible=10, recommendations=((0.0, 6),))
    (blind,) = run(POLICY, [Reading(5, 3, None, pods_in_flight=2, completed_per_second=4.0)], memory)
    assert blind == Decision(
        desired=3,
        reason="the queue cannot be read: holding 3",
        limited=False,
        recheck_soon=False,
        backlog=None,
        in_flight=None,
        throughput=0.0,
        memory=memory,  # nothing learnt: the next readable poll compares with the last one
    )


def test_the_decision_reports_in_flight_and_the_measured_throughput() -> None:
    """In flight: the larger of the queue's and the workers' own count. Throughput: the
    backlog's fall since the last reading, or the workers' counters when higher."""
    memory = Memory(last_at=100.0, last_backlog=15, last_visible=15)
    (fell,) = run(POLICY, [Reading(105.0, 4, counts(3, 2), pods_in_flight=3)], memory)
    assert (fell.backlog, fell.in_flight, fell.throughput) == (5, 3, 2.0)  # 10 fewer in 5 s
    (counted,) = run(
        POLICY, [Reading(105.0, 4, counts(3, 4), pods_in_flight=1, completed_per_second=3.5)], memory
    )
    assert (counted.in_flight, counted.throughput) == (4, 3.5)
    # the next reading measures from this one: it is remembered
    assert fell.memory.last_at == 105.0
    (later,) = run(POLICY, [Reading(110.0, 4, counts(0))], fell.memory)
    assert later.throughput == 1.0  # 5 fewer in 5 s
    # nothing to compare with on a first reading, nor at the same instant as the last one
    (first,) = run(POLICY, [Reading(0, 1, counts(5))])
    assert first.throughput == 0.0
    (same_instant,) = run(POLICY, [Reading(100.0, 4, counts(5))], memory)
    assert same_instant.throughput == 0.0


@pytest.mark.parametrize(
    "busy",
    [
        pytest.param(Reading(1000, 1, counts(1), idle_pods=1), id="one-waiting"),
        pytest.param(Reading(1000, 1, counts(0), pods_in_flight=1, idle_pods=0), id="one-in-a-workers-hands"),
    ],
)
def test_a_single_message_waiting_or_in_hand_restarts_the_cooldown(busy: Reading) -> None:
    """Either one alone is activity: ten seconds later (of a 30 s cooldown) the last
    replica stays; without a window, nothing else would keep it."""
    policy = replace(POLICY, stabilization_seconds=0)
    (seen,) = run(policy, [busy], asleep_after(1000))
    assert seen.desired == 1 and seen.memory.last_active_at == 1000
    idle = Reading(1010, 1, counts(0), pods_in_flight=0, idle_pods=1)
    (cooling,) = run(policy, [idle], seen.memory)
    assert cooling.desired == 1
    (cooled,) = run(policy, [replace(idle, at=1030)], seen.memory)
    assert cooled.desired == 0


def test_a_message_in_a_workers_hands_keeps_the_last_replica_even_without_a_cooldown() -> None:
    """Not every worker answered the scrape (no idle count), but one holds a message."""
    policy = replace(POLICY, stabilization_seconds=0, scale_to_zero_cooldown_seconds=0)
    (held,) = run(policy, [Reading(1000, 1, counts(0), pods_in_flight=1)], asleep_after(1000))
    assert held.desired == 1
    (released,) = run(policy, [Reading(1000, 1, counts(0), pods_in_flight=0)], asleep_after(1000))
    assert released.desired == 0


def test_a_single_waiting_message_keeps_one_replica_even_without_a_cooldown() -> None:
    policy = replace(POLICY, scale_to_zero_cooldown_seconds=0)
    (down,) = run(policy, [Reading(1000, 3, counts(1), idle_pods=3)], asleep_after(1000))
    assert down.desired == 1
    assert down.reason == "scaling down by at most 3: backlog 1 at 2 per replica"


def test_asleep_and_confirming_report_why_and_are_never_limited() -> None:
    policy = replace(POLICY, activation_backlog=5)
    below, once, woken = run(
        policy, [Reading(1000, 0, counts(4)), Reading(1001, 0, counts(5)), Reading(1002, 0, counts(5))]
    )
    assert (below.desired, below.reason, below.limited, below.recheck_soon) == (
        0,
        "asleep: backlog 4 below activation 5",
        False,
        False,
    )
    assert (once.desired, once.reason, once.limited, once.recheck_soon) == (
        0,
        "backlog 5 seen once: confirming before waking",
        False,
        True,
    )
    # on a realistic monotonic clock (not from 0): one second apart is within the window
    assert (woken.desired, woken.reason, woken.limited, woken.recheck_soon) == (
        3,
        "waking: backlog 5 seen twice; backlog 5 at 2 per replica",
        False,
        False,
    )


def test_waking_goes_straight_to_the_target_within_the_limits() -> None:
    _, one = run(POLICY, [Reading(0, 0, counts(1)), Reading(1, 0, counts(1))])
    assert (one.desired, one.limited) == (1, False)  # a single message: a single replica
    _, capped = run(POLICY, [Reading(0, 0, counts(100)), Reading(1, 0, counts(100))])
    assert (capped.desired, capped.limited) == (20, True)  # 50 wanted, maxReplicas is 20


def test_a_sighting_is_forgotten_once_the_backlog_goes_or_the_pool_wakes() -> None:
    """A wake is confirmed by two sightings in a row at zero: a quiet reading, a running
    pool or a wake in between each starts over (e.g. a pool put back to zero by hand)."""
    _, quiet, again = run(
        POLICY, [Reading(0, 0, counts(4)), Reading(1, 0, counts(0)), Reading(2, 0, counts(4))]
    )
    assert quiet.memory.wake_seen_at is None
    assert (again.desired, again.recheck_soon) == (0, True)
    seen, running, stopped = run(
        POLICY, [Reading(0, 0, counts(4)), Reading(1, 2, counts(4)), Reading(2, 0, counts(4))]
    )
    assert seen.memory.wake_seen_at == 0 and running.memory.wake_seen_at is None
    assert (stopped.desired, stopped.recheck_soon) == (0, True)
    _, woken, put_back = run(
        POLICY, [Reading(0, 0, counts(4)), Reading(1, 0, counts(4)), Reading(2, 0, counts(4))]
    )
    assert woken.desired == 2 and woken.memory.wake_seen_at is None
    assert (put_back.desired, put_back.recheck_soon) == (0, True)


def test_scaling_up_and_holding_say_which() -> None:
    (up,) = run(POLICY, [Reading(0, 2, counts(13))])
    assert (up.desired, up.reason, up.limited) == (7, "scaling up: backlog 13 at 2 per replica", False)
    (hold,) = run(POLICY, [Reading(0, 2, counts(4))])
    assert (hold.desired, hold.reason, hold.limited) == (2, "holding: backlog 4 at 2 per replica", False)


def test_a_pool_at_its_maximum_scales_down_like_any_other() -> None:
    """Only a pool *above* maxReplicas is cut at once; one at the maximum steps down."""
    (down,) = run(POLICY, [Reading(1000, 20, counts(0))], asleep_after(1000))
    assert (down.desired, down.reason, down.limited) == (17, "scaling down by at most 3: no backlog", False)


def test_holding_while_stabilising_reports_the_floor_as_a_limit() -> None:
    policy = replace(POLICY, min_replicas=2)
    (hold,) = run(policy, [Reading(0, 5, counts(0))])  # a first reading: the window is full of 5
    assert (hold.desired, hold.reason, hold.limited) == (5, "holding 5 (stabilising; no backlog)", True)


def test_the_cooldown_keeps_exactly_one_replica() -> None:
    recent = asleep_after(1000, last_active_at=990)
    (down,) = run(POLICY, [Reading(1000, 2, counts(0), pods_in_flight=0, idle_pods=2)], recent)
    assert (down.desired, down.reason) == (1, "scaling down by at most 3: no backlog")


def test_the_window_is_remembered_between_readings() -> None:
    """A restarted operator holds for a whole window, then scales down: the window of its
    first reading is carried to the next ones."""
    first, later = run(POLICY, [Reading(0, 10, counts(0)), Reading(20, 10, counts(0))])
    assert first.desired == 10 and first.memory.recommendations == ((0, 10), (0, 0))
    assert later.desired == 7 and later.memory.recommendations == ((20, 0),)


def test_a_throughput_sample_at_the_smallest_saturation() -> None:
    """One message waiting at both readings, one ready replica, half a message a second."""
    _, sampled = run(
        POLICY,
        [Reading(0, 1, counts(1), ready=1), Reading(10, 1, counts(1), ready=1, completed_per_second=0.5)],
    )
    assert sampled.memory.throughput_samples == ((10, 0.5),)


def test_a_stalled_pool_leaves_no_throughput_sample() -> None:
    """Work waited at both readings but nothing completed (a stuck worker): no rate of 0
    is kept, which would hide the real rates measured next."""
    policy = replace(POLICY, drain_seconds=10)
    stalled = [Reading(0, 2, counts(40), ready=2), Reading(5, 2, counts(40), ready=2)]
    _, stuck = run(policy, stalled)
    assert stuck.memory.throughput_samples == ()
    (measured,) = run(policy, [Reading(10, 2, counts(40), ready=2, completed_per_second=4.0)], stuck.memory)
    assert measured.memory.replica_throughput == 2.0 and measured.desired == 2  # 40 at 2/s in 10 s


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
