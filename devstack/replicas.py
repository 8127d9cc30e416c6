"""The Deployment and ReplicaSet controllers for one emulated Deployment, on this machine:
its `spec.replicas` becomes that many real `murmur worker` processes, each shown as a Pod.

Like the ReplicaSet, a scale-down removes the pods with the lowest
`controller.kubernetes.io/pod-deletion-cost` first (the newest among equals), marks them
terminating and SIGTERMs them; a worker drains (finishes what it holds) and exits.
Each worker's last log line (api/cli.py) says what it did, which the runner keeps.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devstack.cloud import MURMUR, answers_ready
from devstack.kube import DEPLOYMENTS, PODS, EmulatedCluster, worker_pod
from murmur_operator.kube import DELETION_COST
from tests.servers._process import ServerProcess, free_port, log_tail, spawn

SUMMARY = re.compile(r"stopped: (.*)$", re.MULTILINE)
TICK_SECONDS = 0.2
DRAIN_TIMEOUT_SECONDS = 60.0


@dataclass
class WorkerRecord:
    pod: str
    process: ServerProcess
    port: int
    started_at: float
    ready_at: float | None = None
    terminated_at: float | None = None
    exit_code: int | None = None
    summary: dict[str, int] = field(default_factory=dict)
    cost_when_removed: str | None = None

    @property
    def running(self) -> bool:
        return self.terminated_at is None


class LocalReplicaSet:
    def __init__(self, cluster: EmulatedCluster, deployment: str, env: dict[str, str], workdir: Path) -> None:
        self.cluster = cluster
        self.deployment = deployment
        self.env = env
        self.workdir = workdir
        self.workers: list[WorkerRecord] = []
        self._serial = 0

    @property
    def running(self) -> list[WorkerRecord]:
        return [w for w in self.workers if w.running]

    async def run(self) -> None:
        while True:
            self.reconcile()  # on the loop: the emulator's objects are not thread-safe
            await asyncio.sleep(TICK_SECONDS)

    def reconcile(self) -> None:
        want = self.cluster.replicas(self.deployment)
        running = self.running
        for _ in range(want - len(running)):
            self._start()
        if want < len(running):
            for worker in self._victims(running, len(running) - want):
                self._terminate(worker)
        for worker in self.workers:
            self._observe(worker)
        ready = sum(1 for w in self.running if w.ready_at is not None)
        self.cluster.patch(
            DEPLOYMENTS, self.deployment, {"status": {"replicas": len(self.running), "readyReplicas": ready}}
        )

    def stop(self) -> None:
        for worker in self.running:
            self._terminate(worker)
        for worker in self.workers:
            worker.process.wait_or_kill(timeout=DRAIN_TIMEOUT_SECONDS)
            self._observe(worker)

    def _start(self) -> None:
        self._serial += 1
        pod = f"{self.deployment}-{self._serial}"
        port = free_port()
        env = {**self.env, "MURMUR_WORKERS__HTTP_PORT": str(port)}
        env.pop("MURMUR_AUTH__JWT_SECRET", None)
        process = spawn(pod, [MURMUR, "worker", "--concurrency", "1"], self.workdir, env=env)
        self.workers.append(WorkerRecord(pod, process, port, started_at=time.monotonic()))
        self.cluster.put(PODS, worker_pod(pod, metrics_port=port, ready=False))

    def _victims(self, running: list[WorkerRecord], count: int) -> list[WorkerRecord]:
        def cost(worker: WorkerRecord) -> tuple[int, float]:
            annotations = (self.cluster.object(PODS, worker.pod) or {}).get("metadata", {}).get(
                "annotations"
            ) or {}
            try:
                return int(annotations.get(DELETION_COST, 0)), -worker.started_at
            except ValueError:
                return 0, -worker.started_at

        return sorted(running, key=cost)[:count]

    def _terminate(self, worker: WorkerRecord) -> None:
        annotations = (self.cluster.object(PODS, worker.pod) or {}).get("metadata", {}).get(
            "annotations"
        ) or {}
        worker.cost_when_removed = annotations.get(DELETION_COST)
        worker.terminated_at = time.monotonic()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.cluster.patch(PODS, worker.pod, {"metadata": {"deletionTimestamp": now}})
        worker.process.terminate()

    def _observe(self, worker: WorkerRecord) -> None:
        code = worker.process.popen.poll()
        if code is not None and worker.exit_code is None:
            worker.exit_code = code
            worker.terminated_at = worker.terminated_at or time.monotonic()
            found = SUMMARY.findall(log_tail(worker.process.log_path, 40))
            if found:
                worker.summary = {k: int(v) for k, v in (kv.split("=") for kv in found[-1].split())}
            self.cluster.remove(PODS, worker.pod)
            return
        if worker.running and worker.ready_at is None and answers_ready(worker.port, timeout=0.3):
            worker.ready_at = time.monotonic()
            self.cluster.patch(
                PODS, worker.pod, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
            )
