"""The real operator scales an emulated Deployment from a real (moto) SQS queue."""

from __future__ import annotations

from typing import Any

import aiohttp
import kmock
import pytest

from devstack.kube import (
    AUTOSCALERS,
    DEPLOYMENTS,
    EVENTS,
    PODS,
    EmulatedCluster,
    autoscaler,
    worker_deployment,
    worker_pod,
)
from murmur_operator.kube import DELETION_COST
from tests.operator.conftest import Lanes, eventually, running_operator, serving_metrics

IDLE_WORKER = (
    'murmur_worker_in_flight_messages 0.0\nmurmur_queue_messages_total{lane="bulk",outcome="done"} 4.0\n'
)

pytestmark = pytest.mark.backend

FAST = {
    "minReplicas": 0,
    "maxReplicas": 4,
    "pollingIntervalSeconds": 1,
    "target": {"messagesPerReplica": 2},
    "scaleDown": {"stabilizationWindowSeconds": 3, "maxStep": 10},
    "scaleToZeroCooldownSeconds": 2,
}


def deploy(
    cluster: EmulatedCluster,
    lanes: Lanes,
    spec: dict[str, Any],
    *,
    replicas: int = 0,
    endpoint: str | None = None,
) -> None:
    """The workers' Deployment and its FanoutAutoscaler (reading `endpoint`, moto by default)."""
    cluster.put(DEPLOYMENTS, worker_deployment("murmur-worker", replicas=replicas))
    queues = autoscaler(
        "workers",
        "murmur-worker",
        lanes.names,
        endpoint_url=endpoint or lanes.moto.url,
        region=lanes.moto.region,
        spec=spec,
    )
    cluster.put(AUTOSCALERS, queues)


def status(cluster: EmulatedCluster) -> dict[str, Any]:
    return (cluster.object(AUTOSCALERS, "workers") or {}).get("status") or {}


def condition(cluster: EmulatedCluster, kind: str) -> dict[str, Any]:
    return next((c for c in status(cluster).get("conditions") or [] if c["type"] == kind), {})


async def test_fill_scales_up_at_once_and_drain_scales_down_after_the_window(
    cluster: EmulatedCluster, lanes: Lanes
) -> None:
    deploy(cluster, lanes, {**FAST, "scaleDown": {"stabilizationWindowSeconds": 5, "maxStep": 10}})
    async with running_operator():
        await eventually(lambda: status(cluster).get("backlog") == 0, timeout=20, what="a first reading")
        assert cluster.replicas("murmur-worker") == 0
        await lanes.send(7)
        await lanes.send(2, lane=1)
        await eventually(lambda: cluster.replicas("murmur-worker") == 4, timeout=15, what="scaled to 4")
        # the status is written after the scale: wait for the tick's own
        await eventually(
            lambda: condition(cluster, "ScalingLimited").get("status") == "True",  # 9 at 2 a replica wants 5
            timeout=5,
            what="limited by maxReplicas",
        )
        assert status(cluster)["backlog"] == 9
        await lanes.drain()
        # the first readings of the empty queue fall inside the window with the full ones
        # before them (5 s against 1 s polls: a tick may stall up to 4 s): the pool holds
        await eventually(lambda: status(cluster).get("backlog") == 0, timeout=10, what="an empty reading")
        assert cluster.replicas("murmur-worker") == 4, "scaled down before the stabilisation window"
        await eventually(lambda: cluster.replicas("murmur-worker") == 0, timeout=20, what="scaled to 0")
        await eventually(
            lambda: condition(cluster, "ScalingActive").get("status") == "False", timeout=5, what="asleep"
        )
        assert condition(cluster, "QueueReadable")["status"] == "True"
        # the Event is posted after the scale itself: wait for it, as for the scale
        await eventually(
            lambda: [e.get("reason") for e in cluster.objects(EVENTS)].count("Scaled") >= 2,
            timeout=5,
            what="an Event on every scale",
        )


async def test_an_unreadable_queue_holds_the_replicas_and_says_why(
    cluster: EmulatedCluster, lanes: Lanes
) -> None:
    dead_endpoint = "http://127.0.0.1:9"  # discard: nothing listens
    spec = {**FAST, "scaleToZeroCooldownSeconds": 0, "scaleDown": {"stabilizationWindowSeconds": 0}}
    deploy(cluster, lanes, spec, replicas=3, endpoint=dead_endpoint)
    async with running_operator():
        await eventually(
            lambda: condition(cluster, "QueueReadable").get("status") == "False",
            timeout=20,
            what="unreadable",
        )
        # the operator writes the status once per poll, after acting on it: four more writes
        # are three whole polls or more, each of which would scale an empty queue to zero
        writes = status_writes(cluster)
        await eventually(
            lambda: status_writes(cluster) >= writes + 4, timeout=30, what="four more polls of the dead queue"
        )
        assert cluster.replicas("murmur-worker") == 3
        held = condition(cluster, "QueueReadable")
        assert "holding 3" in held["message"] and "Connect" in held["message"]
        assert status(cluster).get("backlog") is None  # unknown, not zero


async def test_deleting_the_resource_leaves_nothing_behind(cluster: EmulatedCluster, lanes: Lanes) -> None:
    deploy(cluster, lanes, FAST, replicas=2)
    async with serving_metrics(IDLE_WORKER) as port, running_operator():
        for i in range(2):  # two idle worker pods, whose /metrics say so
            cluster.put(PODS, worker_pod(f"murmur-worker-{i}", metrics_port=port))
        # an empty queue: the window passes, the operator marks the idle pods and scales down
        await eventually(lambda: cluster.replicas("murmur-worker") < 2, timeout=20, what="a scale-down")
        assert any(DELETION_COST in annotations(p) for p in cluster.objects(PODS))
        await delete(cluster, AUTOSCALERS, "workers")
        await eventually(
            lambda: cluster.object(AUTOSCALERS, "workers") is None, timeout=10, what="the CR gone"
        )
        assert not any(DELETION_COST in annotations(p) for p in cluster.objects(PODS))


def status_writes(cluster: EmulatedCluster) -> int:
    """How many versions of the FanoutAutoscaler the emulator has kept: one more per write."""
    return len(cluster.emulator.objects[kmock.resource(AUTOSCALERS), "murmur", "workers"].history)


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


async def delete(cluster: EmulatedCluster, resource: str, name: str) -> None:
    """What `kubectl delete` sends."""
    group_version, plural = resource.rsplit("/", 1)
    prefix = "api" if group_version == "v1" else "apis"
    url = f"{cluster.url}/{prefix}/{group_version}/namespaces/murmur/{plural}/{name}"
    async with aiohttp.ClientSession() as session, session.delete(url) as response:
        assert response.status == 200, await response.text()
