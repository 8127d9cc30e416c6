"""The scaling decision: a pure function of the policy, one reading and what earlier
readings left behind. No clocks, no I/O: the handlers feed it, the simulation replays it,
and the property tests drive it through thousands of histories.

How it answers KEDA's open complaints (see docs/operator.md):
- a count seen in one reading only never wakes a pool at zero: waking needs a second
  reading, taken a second later (`recheck_soon`), not a whole polling interval later;
- scale-up is immediate; scale-down takes the highest recommendation of the stabilisation
  window, removes at most `scale_down_step` replicas at a time, and never more than the
  idle workers (so the workers Kubernetes removes are idle ones, marked cheapest to delete);
- never to zero while anything is in flight, in the queue or in a worker's hands, nor
  before the cooldown since the last activity;
- an unreadable queue holds the current replicas;
- a throughput signal: replicas from a target drain time and the measured per-replica rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

# how long a per-replica throughput sample is remembered: the slowest recent one counts
# (messages differ in size: a replica's rate on small posts would under-provision chunks)
THROUGHPUT_MEMORY_SECONDS = 300.0
# a second sighting of a backlog wakes a pool at zero only if it follows the first within
# this many polling intervals (an older first sighting is forgotten)
WAKE_WINDOW_INTERVALS = 3.0


@dataclass(frozen=True, slots=True)
class Policy:
    min_replicas: int = 0
    max_replicas: int = 10
    polling_seconds: float = 5.0
    # the target: messages per replica (KEDA's queueLength) or, when set, a drain time
    messages_per_replica: float = 5.0
    drain_seconds: float | None = None
    # the per-replica rate assumed (messages/s) until one is measured, for the drain target
    initial_replica_throughput: float = 1.0
    activation_backlog: int = 1
    include_delayed: bool = False
    stabilization_seconds: float = 60.0
    scale_down_step: int = 2
    scale_to_zero_cooldown_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError("replicas need 0 <= minReplicas <= maxReplicas and maxReplicas >= 1")
        if self.polling_seconds <= 0 or self.messages_per_replica <= 0:
            raise ValueError("the polling interval and messages per replica must be positive")
        if self.drain_seconds is not None and self.drain_seconds <= 0:
            raise ValueError("the target drain time must be positive")
        if self.initial_replica_throughput <= 0:
            raise ValueError("the initial replica throughput must be positive")
        if self.scale_down_step < 1 or self.activation_backlog < 1:
            raise ValueError("the scale-down step and the activation backlog are at least 1")
        if self.stabilization_seconds < 0 or self.scale_to_zero_cooldown_seconds < 0:
            raise ValueError("windows and cooldowns cannot be negative")


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Summed over every queue the workers consume (both lanes)."""

    visible: int
    in_flight: int  # received by a worker, not yet deleted (SQS's NotVisible)
    delayed: int = 0

    def backlog(self, *, include_delayed: bool) -> int:
        return self.visible + self.in_flight + (self.delayed if include_delayed else 0)


@dataclass(frozen=True, slots=True)
class Reading:
    """One poll. `counts` is None when the queue could not be read."""

    at: float  # seconds, any monotonic origin
    current: int  # the target's replicas now
    counts: QueueCounts | None
    ready: int | None = None  # of the current replicas, those ready to work (None: all)
    # from the workers' /metrics; None when no worker could be scraped
    pods_in_flight: int | None = None
    idle_pods: int | None = None
    completed_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class Memory:
    """What a decision leaves for the next one (kept in the operator's memory per resource)."""

    last_at: float | None = None
    last_backlog: int | None = None
    last_visible: int | None = None
    wake_seen_at: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()
    last_active_at: float | None = None
    throughput_samples: tuple[tuple[float, float], ...] = ()  # (at, messages/s per ready replica)

    @property
    def replica_throughput(self) -> float | None:
        return min((rate for _, rate in self.throughput_samples), default=None)


@dataclass(frozen=True, slots=True)
class Decision:
    desired: int
    reason: str
    limited: bool  # the target asked for more than max or less than min
    recheck_soon: bool  # confirm a first sighting with another reading in a second
    backlog: int | None
    in_flight: int | None
    throughput: float  # messages/s completed, as measured at this reading
    memory: Memory


def decide(policy: Policy, reading: Reading, memory: Memory) -> Decision:
    current = reading.current
    if reading.counts is None:
        return Decision(
            desired=current,
            reason=f"the queue cannot be read: holding {current}",
            limited=False,
            recheck_soon=False,
            backlog=None,
            in_flight=None,
            throughput=0.0,
            memory=memory,
        )
    counts = reading.counts
    backlog = counts.backlog(include_delayed=policy.include_delayed)
    in_flight = max(counts.in_flight, reading.pods_in_flight or 0)
    at = reading.at
    previous_backlog = memory.last_backlog
    throughput = _throughput(reading, memory, backlog)
    samples = _throughput_samples(reading, memory, throughput)
    busy = backlog > 0 or in_flight > 0
    memory = replace(
        memory,
        last_at=at,
        last_backlog=backlog,
        last_visible=counts.visible,
        last_active_at=at if busy else memory.last_active_at,
        throughput_samples=samples,
    )
    replica_throughput = memory.replica_throughput

    def decision(desired: int, reason: str, *, limited: bool = False, recheck: bool = False) -> Decision:
        return Decision(desired, reason, limited, recheck, backlog, in_flight, throughput, memory)

    needed, why = _needed(policy, backlog, replica_throughput)
    target = min(max(needed, policy.min_replicas), policy.max_replicas)
    limited = needed != target
    # the window starts full of `current` on a first reading: a restarted operator never
    # scales down before it has watched a whole window
    history = memory.recommendations or ((at, current),)
    window = tuple((t, n) for t, n in (*history, (at, target)) if at - t <= policy.stabilization_seconds)
    memory = replace(memory, recommendations=window)

    if current == 0 and policy.min_replicas == 0:
        if backlog < policy.activation_backlog:
            memory = replace(memory, wake_seen_at=None)
            return decision(0, f"asleep: backlog {backlog} below activation {policy.activation_backlog}")
        seen = memory.wake_seen_at
        if seen is None or at - seen > WAKE_WINDOW_INTERVALS * policy.polling_seconds:
            memory = replace(memory, wake_seen_at=at)
            return decision(0, f"backlog {backlog} seen once: confirming before waking", recheck=True)
        memory = replace(memory, wake_seen_at=None)
        return decision(max(target, 1), f"waking: backlog {backlog} seen twice; {why}", limited=limited)
    memory = replace(memory, wake_seen_at=None)

    if current > policy.max_replicas:  # the limits were lowered under a running pool
        return decision(policy.max_replicas, f"above maxReplicas {policy.max_replicas}", limited=True)
    if target >= current:
        verb = "scaling up" if target > current else "holding"
        return decision(target, f"{verb}: {why}", limited=limited)
    growing = previous_backlog is not None and backlog > previous_backlog
    highest = max(n for _, n in window)
    desired = max(highest, current - policy.scale_down_step, target)
    if reading.idle_pods is not None:  # remove idle workers only
        desired = max(desired, current - reading.idle_pods)
    if desired == 0 and not _may_sleep(policy, at, in_flight, memory):
        desired = 1
    if growing:  # a backlog that grows is never met with fewer workers
        desired = current
    desired = min(desired, current)
    if desired == current:
        return decision(current, f"holding {current} (stabilising; {why})", limited=limited)
    return decision(desired, f"scaling down by at most {policy.scale_down_step}: {why}", limited=limited)


def _needed(policy: Policy, backlog: int, replica_throughput: float | None) -> tuple[int, str]:
    if backlog == 0:
        return 0, "no backlog"
    if policy.drain_seconds is None:
        per = policy.messages_per_replica
        return math.ceil(backlog / per), f"backlog {backlog} at {per:g} per replica"
    rate = replica_throughput or policy.initial_replica_throughput
    # never more replicas than messages (and no overflow from a vanishing measured rate)
    replicas = math.ceil(min(backlog / (rate * policy.drain_seconds), backlog))
    return replicas, f"backlog {backlog} at {rate:.2f}/s per replica drains in {policy.drain_seconds:g} s"


def _throughput(reading: Reading, memory: Memory, backlog: int) -> float:
    """Messages completed per second: the workers' own counters when scraped, and at least
    the backlog's fall since the last reading (a lower bound: arrivals hide some work)."""
    from_queue = 0.0
    if memory.last_at is not None and memory.last_backlog is not None and reading.at > memory.last_at:
        from_queue = max(0, memory.last_backlog - backlog) / (reading.at - memory.last_at)
    return max(from_queue, reading.completed_per_second or 0.0)


def _throughput_samples(
    reading: Reading, memory: Memory, throughput: float
) -> tuple[tuple[float, float], ...]:
    """A replica's rate is sampled only while work waited at both readings: then every
    ready replica was busy and the rate measures capacity, not demand."""
    assert reading.counts is not None
    kept = tuple((t, r) for t, r in memory.throughput_samples if reading.at - t <= THROUGHPUT_MEMORY_SECONDS)
    ready = reading.current if reading.ready is None else min(reading.ready, reading.current)
    saturated = reading.counts.visible > 0 and (memory.last_visible or 0) > 0
    if not saturated or ready < 1 or throughput <= 0:
        return kept
    return (*kept, (reading.at, throughput / ready))


def _may_sleep(policy: Policy, at: float, in_flight: int, memory: Memory) -> bool:
    if policy.min_replicas > 0 or in_flight > 0:
        return False
    last = memory.last_active_at
    return last is None or at - last >= policy.scale_to_zero_cooldown_seconds
