"""A FanoutAutoscaler's spec, read into typed values (the CRD's schema has the same
defaults, but an API server without the schema, or an old object, may omit fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from murmur_operator.decision import Policy

GROUP, VERSION, PLURAL, KIND = "murmur.io", "v1alpha1", "fanoutautoscalers", "FanoutAutoscaler"


class SpecError(ValueError):
    """The resource asks for something impossible; its message says what."""


@dataclass(frozen=True, slots=True)
class QueueRef:
    url: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.url or self.name or "?"


@dataclass(frozen=True, slots=True)
class SqsSpec:
    queues: tuple[QueueRef, ...]
    region: str = "us-east-1"
    endpoint_url: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerMetrics:
    port_name: str = "metrics"
    path: str = "/metrics"


@dataclass(frozen=True, slots=True)
class AutoscalerSpec:
    target: str  # a Deployment in the resource's namespace
    sqs: SqsSpec
    policy: Policy
    metrics: WorkerMetrics


def parse(spec: dict[str, Any]) -> AutoscalerSpec:
    try:
        return _parse(spec)
    except (KeyError, TypeError, ValueError) as error:
        raise SpecError(f"invalid FanoutAutoscaler spec: {error}") from error


def _parse(spec: dict[str, Any]) -> AutoscalerSpec:
    ref = spec.get("scaleTargetRef") or {}
    if ref.get("kind", "Deployment") != "Deployment" or not ref.get("name"):
        raise ValueError("scaleTargetRef must name a Deployment")
    sqs = spec.get("sqs") or {}
    queues = tuple(QueueRef(url=q.get("url"), name=q.get("name")) for q in sqs.get("queues") or ())
    if not queues or any(bool(q.url) == bool(q.name) for q in queues):
        raise ValueError("sqs.queues needs at least one queue, each with a url or a name (not both)")
    target = spec.get("target") or {}
    scale_down = spec.get("scaleDown") or {}
    policy = Policy(
        min_replicas=int(spec.get("minReplicas", 0)),
        max_replicas=int(spec.get("maxReplicas", 10)),
        polling_seconds=float(spec.get("pollingIntervalSeconds", 5)),
        messages_per_replica=float(target.get("messagesPerReplica", 2)),
        drain_seconds=float(target["drainSeconds"]) if target.get("drainSeconds") else None,
        initial_replica_throughput=float(target.get("initialReplicaThroughput", 1.0)),
        activation_backlog=int(spec.get("activationBacklog", 1)),
        include_delayed=bool(sqs.get("includeDelayed", False)),
        stabilization_seconds=float(scale_down.get("stabilizationWindowSeconds", 15)),
        scale_down_step=int(scale_down.get("maxStep", 10)),
        scale_to_zero_cooldown_seconds=float(spec.get("scaleToZeroCooldownSeconds", 60)),
    )
    metrics = spec.get("workerMetrics") or {}
    return AutoscalerSpec(
        target=str(ref["name"]),
        sqs=SqsSpec(
            queues=queues, region=str(sqs.get("region", "us-east-1")), endpoint_url=sqs.get("endpointUrl")
        ),
        policy=policy,
        metrics=WorkerMetrics(
            port_name=str(metrics.get("portName", "metrics")), path=str(metrics.get("path", "/metrics"))
        ),
    )
