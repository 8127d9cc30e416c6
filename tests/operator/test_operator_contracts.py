"""What the operator assumes of the rest of Murmur, and what its simulation promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from murmur import metrics
from murmur_operator import worker_metrics
from murmur_operator.spec import SpecError, parse

ROOT = Path(__file__).resolve().parents[2]


def test_the_worker_metric_names_the_operator_reads_are_the_ones_workers_export() -> None:
    assert metrics.IN_FLIGHT._name == worker_metrics.IN_FLIGHT
    assert metrics.QUEUE_MESSAGES._name + "_total" == worker_metrics.MESSAGES
    sample = worker_metrics.parse(
        "w-1",
        'murmur_worker_in_flight_messages 2.0\nmurmur_queue_messages_total{lane="bulk",outcome="done"} 7.0\n'
        'murmur_queue_messages_total{lane="express",outcome="released"} 3.0\n',
    )
    assert (sample.in_flight, sample.done) == (2, 7.0)


def test_a_bad_spec_is_refused_with_the_reason() -> None:
    for spec, words in (
        ({"sqs": {"queues": [{"name": "q"}]}}, "scaleTargetRef"),
        ({"scaleTargetRef": {"name": "w"}, "sqs": {"queues": []}}, "at least one queue"),
        (
            {
                "scaleTargetRef": {"name": "w"},
                "sqs": {"queues": [{"name": "q"}]},
                "minReplicas": 9,
                "maxReplicas": 2,
            },
            "minReplicas",
        ),
    ):
        try:
            parse(spec)
        except SpecError as error:
            assert words in str(error)
        else:
            raise AssertionError(f"accepted {spec}")


def test_the_crd_and_the_spec_reader_share_their_defaults() -> None:
    crd = yaml.safe_load((ROOT / "helm/murmur/crds/fanoutautoscalers.murmur.io.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    policy = parse({"scaleTargetRef": {"name": "w"}, "sqs": {"queues": [{"name": "q"}]}}).policy
    assert schema["pollingIntervalSeconds"]["default"] == policy.polling_seconds
    assert schema["minReplicas"]["default"] == policy.min_replicas
    assert schema["maxReplicas"]["default"] == policy.max_replicas
    assert schema["activationBacklog"]["default"] == policy.activation_backlog
    assert schema["scaleToZeroCooldownSeconds"]["default"] == policy.scale_to_zero_cooldown_seconds
    assert schema["target"]["properties"]["messagesPerReplica"]["default"] == policy.messages_per_replica
    scale_down = schema["scaleDown"]["properties"]
    assert scale_down["stabilizationWindowSeconds"]["default"] == policy.stabilization_seconds
    assert scale_down["maxStep"]["default"] == policy.scale_down_step


def test_the_simulation_meets_its_target_against_keda() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "murmur_operator.simulate", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    policies = json.loads(done.stdout)["policies"]
    murmur, keda = policies["murmur"], policies["keda_default"]
    assert murmur["p99_lag_s"] <= 0.5 * keda["p99_lag_s"]
    assert murmur["replica_seconds"] <= keda["replica_seconds"]
    assert murmur["busy_pods_killed"] == 0
    assert set(policies) == {"murmur", "keda_default", "keda_tuned"}
