"""The kopf handlers: thin. A timer on each FanoutAutoscaler reads, asks `decide`, acts.

Timers sit on the custom resource, never on Deployments or pods: kopf puts a finalizer
on what its handlers watch, and the workers' Deployment is not ours to hold.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes_asyncio import client

from murmur_operator.decision import Decision, Memory, Reading, decide
from murmur_operator.kube import Cluster, load_credentials
from murmur_operator.queues import QueueUnreadable, read_counts
from murmur_operator.spec import GROUP, PLURAL, VERSION, AutoscalerSpec, SpecError, parse
from murmur_operator.worker_metrics import completed_per_second, scrape

# the timer ticks this often; each resource polls at its own pollingIntervalSeconds
TICK_SECONDS = 1.0
# a quick second reading confirms a first sighting of work before waking a pool at zero
RECHECK_SECONDS = 1.0


@dataclass
class Autoscaler:
    """One resource's state between ticks (kopf gives each resource its own memo)."""

    memory: Memory = field(default_factory=Memory)
    next_poll: float = 0.0
    done_before: dict[str, float] = field(default_factory=dict)
    scraped_at: float | None = None
    last_scale_time: str | None = None
    last_scale_reason: str | None = None
    marked: set[str] = field(default_factory=set)  # pods whose deletion cost we set


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, its service account; elsewhere $KUBECONFIG, read when called (kopf's
    default handler for kubernetes_asyncio reads the path fixed when that was imported)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # one operator replica scales the workers; peering only when asked (several replicas)
    settings.peering.standalone = os.environ.get("MURMUR_OPERATOR_PEERING", "") == ""
    settings.posting.level = logging.INFO
    # no scanning of namespaces and CRDs: the RBAC grants neither, and the namespaces
    # to serve are given on the command line (--namespace)
    settings.scanning.disabled = True
    await load_credentials()
    memo.api = client.ApiClient()
    memo.cluster = Cluster(memo.api)  # each resource's memo is a shallow copy: all share it


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    api = memo.get("api")
    if api is not None:
        await api.close()


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS)
async def autoscale(
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: kopf.Memo,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    state: Autoscaler = memo.setdefault("autoscaler", Autoscaler())
    now = time.monotonic()
    if namespace is None:  # the CRD is namespaced; this cannot happen
        return
    if now < state.next_poll:
        return
    conditions = Conditions(body)
    try:
        wanted = parse(dict(spec))
    except SpecError as error:
        conditions.set("Ready", False, "InvalidSpec", str(error))
        conditions.write(patch)
        state.next_poll = now + 30.0
        return
    decision = await _reconcile(wanted, namespace, memo.cluster, state, body, patch, conditions, logger, now)
    conditions.write(patch)
    pause = (
        RECHECK_SECONDS if decision is not None and decision.recheck_soon else wanted.policy.polling_seconds
    )
    state.next_poll = now + pause


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def release(namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Leave nothing behind: the deletion costs we set go; the replicas stay as they are."""
    state: Autoscaler | None = memo.get("autoscaler")
    if state is None or not state.marked or namespace is None:
        return
    cluster: Cluster = memo.cluster
    for pod in sorted(state.marked):
        try:
            await cluster.set_deletion_cost(namespace, pod, None)
        except client.ApiException as error:
            if error.status != 404:  # a pod already gone has nothing left to clean
                raise
    state.marked.clear()


async def _reconcile(
    wanted: AutoscalerSpec,
    namespace: str,
    cluster: Cluster,
    state: Autoscaler,
    body: kopf.Body,
    patch: kopf.Patch,
    conditions: Conditions,
    logger: kopf.Logger,
    now: float,
) -> Decision | None:
    try:
        scale = await cluster.scale(namespace, wanted.target)
    except client.ApiException as error:
        conditions.set("Ready", False, "TargetUnreadable", f"Deployment {wanted.target}: {error.reason}")
        return None
    conditions.set("Ready", True, "Reconciled", f"scaling Deployment {wanted.target}")
    try:
        counts = await read_counts(wanted.sqs)
        conditions.set("QueueReadable", True, "Read", f"{len(wanted.sqs.queues)} queue(s) read")
    except QueueUnreadable as error:
        counts = None
        conditions.set("QueueReadable", False, "ReadFailed", f"holding {scale.replicas}: {error}")
        logger.warning("the fan-out queue cannot be read: %s", error)

    pods = [p for p in await cluster.pods(namespace, scale.selector) if not p.terminating]
    samples = await scrape(pods, port_name=wanted.metrics.port_name, path=wanted.metrics.path)
    rate = (
        completed_per_second(state.done_before, samples, now - state.scraped_at) if state.scraped_at else None
    )
    state.done_before, state.scraped_at = {s.pod: s.done for s in samples}, now
    reading = Reading(
        at=now,
        current=scale.replicas,
        counts=counts,
        ready=sum(p.ready for p in pods),
        pods_in_flight=sum(s.in_flight for s in samples) if samples else None,
        # only when every pod answered: an unscraped pod may be busy
        idle_pods=sum(s.in_flight == 0 for s in samples) if samples and len(samples) == len(pods) else None,
        completed_per_second=rate,
    )
    decision = decide(wanted.policy, reading, state.memory)
    state.memory = decision.memory

    if decision.desired < scale.replicas:
        # the ReplicaSet removes the cheapest pods first: the idle ones
        costs = {p.name: p.deletion_cost for p in pods}
        for sample in samples:
            cost = sample.in_flight * 100
            if costs.get(sample.pod) != str(cost):
                await cluster.set_deletion_cost(namespace, sample.pod, cost)
            state.marked.add(sample.pod)
    if decision.desired != scale.replicas:
        await cluster.set_replicas(namespace, wanted.target, decision.desired)
        state.last_scale_time = datetime.now(UTC).isoformat(timespec="seconds")
        state.last_scale_reason = decision.reason
        message = f"{scale.replicas} → {decision.desired}: {decision.reason}"
        kopf.info(body, reason="Scaled", message=message)
        logger.info("scaled %s %s", wanted.target, message)

    patch.status["backlog"] = decision.backlog
    patch.status["inFlight"] = decision.in_flight
    patch.status["throughput"] = round(decision.throughput, 3)
    patch.status["replicaThroughput"] = (
        round(decision.memory.replica_throughput, 3) if decision.memory.replica_throughput else None
    )
    patch.status["desiredReplicas"] = decision.desired
    patch.status["currentReplicas"] = scale.replicas
    patch.status["lastScaleTime"] = state.last_scale_time
    patch.status["lastScaleReason"] = state.last_scale_reason
    patch.status["reason"] = decision.reason
    conditions.set(
        "ScalingActive",
        decision.desired > 0,
        "Active" if decision.desired > 0 else "ScaledToZero",
        decision.reason,
    )
    conditions.set(
        "ScalingLimited",
        decision.limited,
        "OutsideLimits" if decision.limited else "WithinLimits",
        f"between {wanted.policy.min_replicas} and {wanted.policy.max_replicas} replicas",
    )
    return decision


class Conditions:
    """The status conditions of one tick; a condition keeps its lastTransitionTime until
    its status changes."""

    def __init__(self, body: kopf.Body) -> None:
        previous = (body.get("status") or {}).get("conditions") or []
        self._previous = {c.get("type"): c for c in previous}
        self._now: dict[str, dict[str, str]] = {}

    def set(self, kind: str, ok: bool, reason: str, message: str) -> None:
        status = "True" if ok else "False"
        before = self._previous.get(kind) or {}
        changed = before.get("status") != status
        self._now[kind] = {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": (
                datetime.now(UTC).isoformat(timespec="seconds") if changed else before["lastTransitionTime"]
            ),
        }

    def write(self, patch: kopf.Patch) -> None:
        merged = {**self._previous, **self._now}
        patch.status["conditions"] = [merged[kind] for kind in CONDITION_ORDER if kind in merged]


CONDITION_ORDER = ("Ready", "QueueReadable", "ScalingActive", "ScalingLimited")
