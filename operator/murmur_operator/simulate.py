"""A discrete-time study of autoscaling policies on one fan-out trace (not a test).

    python -m murmur_operator.simulate [--json] [--plot docs/operator/simulation.svg]

One hour of fan-out messages (regular posts in bursts, influencer posts, and celebrity
posts of 500K and 200K deliveries in chunks of 5,000) drains through a pool of pods,
each handling one message at a time at a fixed delivery rate, each taking a start-up
delay before it is ready. Three controllers scale the pool on the same trace:

- murmur: `decision.decide` polled every 5 s, 2 messages per replica, a 15 s window,
  steps of 10, idle pods removed first;
- keda_default: KEDA's aws-sqs-queue scaler as shipped: 30 s polling for 0↔1, the HPA's
  15 s sync for 1↔N with queueLength 5 and its 10 % tolerance, the HPA's default scale-up
  rate (4 pods or 100 % per 15 s), a 300 s scale-down window and a 300 s cooldown to zero;
- keda_tuned: the same, tuned hard: 5 s polling, 30 s window and cooldown, scale-up
  unbounded. The 15 s HPA sync stays: it is the cluster's setting, not KEDA's.

KEDA removes the newest pods (the ReplicaSet's choice), busy or not: a busy pod's message
comes back after the visibility timeout. Murmur removes idle pods only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from murmur_operator.decision import Memory, Policy, QueueCounts, Reading, decide

STEP_SECONDS = 0.5
HORIZON_SECONDS = 3600.0
CHUNK_DELIVERIES = 5_000  # MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE's default
POD_DELIVERIES_PER_SECOND = 1_000.0  # a worker's batched timeline writes
MESSAGE_OVERHEAD_SECONDS = 0.05
POD_STARTUP_SECONDS = 10.0
VISIBILITY_TIMEOUT_SECONDS = 60.0  # MURMUR_WORKERS__VISIBILITY_TIMEOUT_SECONDS's default
MAX_REPLICAS = 50
BULK_DELIVERIES = 1_000  # posts to more followers are planned into chunks on the bulk lane


@dataclass(frozen=True, slots=True)
class Message:
    sent_at: float
    deliveries: int

    @property
    def service_seconds(self) -> float:
        return MESSAGE_OVERHEAD_SECONDS + self.deliveries / POD_DELIVERIES_PER_SECOND


def trace(seed: int = 7) -> list[Message]:
    """The arrivals: quiet at first, regular posts with bursts, influencers, two celebrities."""
    rng = random.Random(seed)
    messages: list[Message] = []
    t = 300.0  # five quiet minutes: every pool starts asleep
    while t < 3000.0:
        burst = any(start <= t < start + 60 for start in (600.0, 1800.0, 2700.0))
        rate = 8.0 if burst else 2.0  # regular posts a second
        t += rng.expovariate(rate)
        messages.append(Message(t, rng.randint(10, 100)))
        if rng.random() < 1 / 120:  # an influencer about once a minute
            followers = int(rng.uniform(5_000, 50_000))
            messages.extend(_chunks(t, followers))
    for at, followers in ((1200.0, 500_000), (2400.0, 200_000)):
        messages.extend(_chunks(at, followers))
    return sorted(messages, key=lambda m: m.sent_at)


def _chunks(at: float, followers: int) -> list[Message]:
    full, rest = divmod(followers, CHUNK_DELIVERIES)
    return [Message(at, CHUNK_DELIVERIES)] * full + ([Message(at, rest)] if rest else [])


@dataclass(slots=True)
class Pod:
    started_at: float
    ready_at: float
    message: Message | None = None
    remaining: float = 0.0

    @property
    def busy(self) -> bool:
        return self.message is not None


@dataclass(slots=True)
class Pool:
    pods: list[Pod] = field(default_factory=list)
    queue: deque[Message] = field(default_factory=deque)  # the express lane: posts
    bulk: deque[Message] = field(default_factory=deque)  # the bulk lane: chunks of big fan-outs
    returning: list[tuple[float, Message]] = field(default_factory=list)  # lapsed leases
    completed: int = 0
    busy_killed: int = 0
    scale_events: int = 0

    def counts(self) -> QueueCounts:
        in_hand = sum(pod.busy for pod in self.pods)
        return QueueCounts(visible=len(self.queue) + len(self.bulk), in_flight=in_hand + len(self.returning))

    def enqueue(self, message: Message) -> None:
        (self.bulk if message.deliveries >= BULK_DELIVERIES else self.queue).append(message)

    def take(self) -> Message | None:
        """The express lane first, as the workers do."""
        for lane in (self.queue, self.bulk):
            if lane:
                return lane.popleft()
        return None

    def scale(self, desired: int, now: float, *, idle_first: bool) -> None:
        if desired == len(self.pods):
            return
        self.scale_events += 1
        if desired > len(self.pods):
            for _ in range(desired - len(self.pods)):
                self.pods.append(Pod(started_at=now, ready_at=now + POD_STARTUP_SECONDS))
            return
        # the ReplicaSet removes the newest pods; the pod-deletion cost puts idle ones first
        order = sorted(self.pods, key=lambda p: (p.busy, -p.started_at)) if idle_first else self.pods[::-1]
        for pod in order[: len(self.pods) - desired]:
            self.pods.remove(pod)
            if pod.busy and pod.message is not None:
                self.busy_killed += 1
                self.returning.append((now + VISIBILITY_TIMEOUT_SECONDS, pod.message))


Controller = Callable[[Pool, float], None]


def murmur_controller(policy: Policy) -> Controller:
    memory = Memory()
    next_poll = 0.0
    completed_before, polled_at = 0, 0.0

    def control(pool: Pool, now: float) -> None:
        nonlocal memory, next_poll, completed_before, polled_at
        if now < next_poll:
            return
        ready = [pod for pod in pool.pods if pod.ready_at <= now]
        rate = (pool.completed - completed_before) / (now - polled_at) if now > polled_at else 0.0
        completed_before, polled_at = pool.completed, now
        reading = Reading(
            at=now,
            current=len(pool.pods),
            ready=len(ready),
            counts=pool.counts(),
            pods_in_flight=sum(pod.busy for pod in pool.pods),
            idle_pods=sum(not pod.busy for pod in pool.pods),
            completed_per_second=rate if ready else None,
        )
        decision = decide(policy, reading, memory)
        memory = decision.memory
        pool.scale(decision.desired, now, idle_first=True)
        next_poll = now + (1.0 if decision.recheck_soon else policy.polling_seconds)

    return control


@dataclass(frozen=True, slots=True)
class KedaSettings:
    polling_seconds: float = 30.0
    hpa_sync_seconds: float = 15.0
    queue_length: int = 5
    tolerance: float = 0.1
    scale_down_window_seconds: float = 300.0
    cooldown_seconds: float = 300.0
    # the HPA's default scale-up policy: the larger of 4 pods or 100 % per 15 s
    scale_up_pods: int = 4
    scale_up_percent: float = 100.0
    scale_up_period_seconds: float = 15.0


def keda_controller(keda: KedaSettings) -> Controller:
    """KEDA's scaler over the HPA, as documented: KEDA activates 0→1 and deactivates to 0
    after the cooldown; the HPA computes ceil(total / queueLength) at each sync."""
    next_poll, next_sync = 0.0, 0.0
    last_active: float | None = None
    recommendations: list[tuple[float, int]] = []
    scale_ups: list[tuple[float, int]] = []  # (when, replicas before) for the rate policy

    def control(pool: Pool, now: float) -> None:
        nonlocal next_poll, next_sync, last_active
        counts = pool.counts()
        total = counts.visible + counts.in_flight
        current = len(pool.pods)
        if now >= next_poll:
            next_poll = now + keda.polling_seconds
            if total > 0:
                last_active = now
                if current == 0:
                    pool.scale(1, now, idle_first=False)
            elif current > 0 and (last_active is None or now - last_active >= keda.cooldown_seconds):
                pool.scale(0, now, idle_first=False)
                recommendations.clear()
            return
        if now < next_sync or current == 0:
            return
        next_sync = now + keda.hpa_sync_seconds
        wanted = math.ceil(total / keda.queue_length)
        if current and abs(wanted / current - 1) <= keda.tolerance:
            wanted = current
        wanted = min(max(wanted, 1), MAX_REPLICAS)
        recommendations.append((now, wanted))
        recommendations[:] = [(t, n) for t, n in recommendations if now - t <= keda.scale_down_window_seconds]
        if wanted < current:
            wanted = min(current, max(n for _, n in recommendations))
        elif wanted > current:
            period = [before for t, before in scale_ups if now - t < keda.scale_up_period_seconds]
            base = min(period, default=current)
            ceiling = max(base + keda.scale_up_pods, math.ceil(base * (1 + keda.scale_up_percent / 100)))
            wanted = min(wanted, ceiling)
            scale_ups.append((now, current))
        pool.scale(wanted, now, idle_first=False)

    return control


@dataclass(frozen=True, slots=True)
class Outcome:
    p99_lag_s: float
    p50_lag_s: float
    p99_message_lag_s: float
    replica_seconds: float
    scale_events: int
    busy_pods_killed: int
    peak_replicas: int
    series: list[tuple[float, int, int]]  # (time, replicas, backlog) each 5 s, for the plot

    def summary(self) -> dict[str, float | int]:
        return {
            "p99_lag_s": round(self.p99_lag_s, 1),
            "p50_lag_s": round(self.p50_lag_s, 1),
            "p99_message_lag_s": round(self.p99_message_lag_s, 1),
            "replica_seconds": round(self.replica_seconds),
            "scale_events": self.scale_events,
            "busy_pods_killed": self.busy_pods_killed,
            "peak_replicas": self.peak_replicas,
        }


def run(messages: list[Message], control: Controller) -> Outcome:
    pool = Pool()
    arrivals = deque(messages)
    lags: list[tuple[float, int]] = []  # (lag, deliveries)
    replica_seconds = 0.0
    series: list[tuple[float, int, int]] = []
    peak = 0
    now = 0.0
    while now < HORIZON_SECONDS:
        while arrivals and arrivals[0].sent_at <= now:
            pool.enqueue(arrivals.popleft())
        for message in [m for t, m in pool.returning if t <= now]:
            pool.enqueue(message)
        pool.returning = [(t, m) for t, m in pool.returning if t > now]
        control(pool, now)
        peak = max(peak, len(pool.pods))
        replica_seconds += len(pool.pods) * STEP_SECONDS
        for pod in pool.pods:
            if pod.ready_at > now:
                continue
            budget = STEP_SECONDS
            while budget > 0:
                if pod.message is None:
                    pod.message = pool.take()
                    if pod.message is None:
                        break
                    pod.remaining = pod.message.service_seconds
                spent = min(budget, pod.remaining)
                pod.remaining -= spent
                budget -= spent
                if pod.remaining <= 1e-9:
                    done_at = now + STEP_SECONDS - budget
                    lags.append((done_at - pod.message.sent_at, pod.message.deliveries))
                    pool.completed += 1
                    pod.message = None
        if round(now / STEP_SECONDS) % 10 == 0:
            series.append((now, len(pool.pods), pool.counts().visible))
        now += STEP_SECONDS
    return Outcome(
        p99_lag_s=_weighted_percentile(lags, 0.99),
        p50_lag_s=_weighted_percentile(lags, 0.50),
        p99_message_lag_s=_weighted_percentile([(lag, 1) for lag, _ in lags], 0.99),
        replica_seconds=replica_seconds,
        scale_events=pool.scale_events,
        busy_pods_killed=pool.busy_killed,
        peak_replicas=peak,
        series=series,
    )


def _weighted_percentile(samples: list[tuple[float, int]], q: float) -> float:
    """The lag below which a fraction q of the deliveries (not the messages) landed."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    total = sum(weight for _, weight in ordered)
    seen = 0
    for value, weight in ordered:
        seen += weight
        if seen >= q * total:
            return value
    return ordered[-1][0]


MURMUR_POLICY = Policy(
    min_replicas=0,
    max_replicas=MAX_REPLICAS,
    polling_seconds=5.0,
    messages_per_replica=2.0,
    stabilization_seconds=15.0,
    scale_down_step=10,
    scale_to_zero_cooldown_seconds=60.0,
)
KEDA_TUNED = KedaSettings(
    polling_seconds=5.0,
    scale_down_window_seconds=30.0,
    cooldown_seconds=30.0,
    scale_up_pods=MAX_REPLICAS,
)


def compare(seed: int = 7) -> dict[str, Outcome]:
    messages = trace(seed)
    return {
        "murmur": run(messages, murmur_controller(MURMUR_POLICY)),
        "keda_default": run(messages, keda_controller(KedaSettings())),
        "keda_tuned": run(messages, keda_controller(KEDA_TUNED)),
    }


def table(outcomes: dict[str, Outcome]) -> str:
    rows = [
        "| policy | p99 delivery lag s | p50 delivery lag s | p99 message lag s | replica-seconds "
        "| scale events | busy pods killed | peak replicas |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, outcome in outcomes.items():
        s = outcome.summary()
        rows.append(
            f"| {name} | {s['p99_lag_s']} | {s['p50_lag_s']} | {s['p99_message_lag_s']} "
            f"| {s['replica_seconds']:,} | {s['scale_events']} | {s['busy_pods_killed']} "
            f"| {s['peak_replicas']} |"
        )
    return "\n".join(rows)


def plot(outcomes: dict[str, Outcome], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (replicas, backlog) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for name, outcome in outcomes.items():
        minutes = [t / 60 for t, _, _ in outcome.series]
        replicas.plot(minutes, [n for _, n, _ in outcome.series], label=name, linewidth=1.2)
        backlog.plot(minutes, [b for _, _, b in outcome.series], label=name, linewidth=1.2)
    replicas.set_ylabel("replicas")
    backlog.set_ylabel("visible messages")
    backlog.set_xlabel("minutes")
    replicas.legend()
    replicas.set_title("Fan-out workers under one trace: Murmur's operator and KEDA")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m murmur_operator.simulate", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--plot", type=Path, help="write replicas and backlog over time (SVG or PNG)")
    args = parser.parse_args(argv)
    outcomes = compare(args.seed)
    if args.plot:
        plot(outcomes, args.plot)
    if args.json:
        policies: dict[str, Any] = {name: o.summary() for name, o in outcomes.items()}
        print(json.dumps({"policies": policies}, indent=2))
    else:
        print(table(outcomes))


if __name__ == "__main__":
    main()
