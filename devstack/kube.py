"""A Kubernetes API on one machine: kmock's emulator, made faithful enough for the operator.

kmock keeps objects and serves list, watch, get, create, patch and delete. Two things a
real API server does, it needs taught:
- the built-in resources (`load_bundled`) and ours (FanoutAutoscaler, with its status);
- the scale subresource: a real server answers GET .../deployments/NAME/scale with a
  Scale object whose status carries the pods' label selector; kmock would return the
  Deployment itself. A PATCH to /scale is merged into the Deployment, which is right.

`emulated_cluster` runs it on a loopback port and writes a kubeconfig that kopf and
kubernetes_asyncio both read.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock

NAMESPACE = "murmur"
DEPLOYMENTS = "apps/v1/deployments"
PODS = "v1/pods"
AUTOSCALERS = "murmur.io/v1alpha1/fanoutautoscalers"
EVENTS = "v1/events"
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"
_versions = itertools.count(1)
SERVER_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.4", "platform": "linux/amd64"}


def resource_version() -> str:
    """Objects put in by hand need one: kopf's finalizer patch tests it."""
    return str(next(_versions))


@dataclass
class EmulatedCluster:
    emulator: kmock.KubernetesEmulator
    url: str
    kubeconfig: Path

    def object(self, resource: str, name: str, namespace: str | None = NAMESPACE) -> dict[str, Any] | None:
        key = (kmock.resource(resource), namespace, name)  # `in` does not parse a string resource
        if key not in self.emulator.objects or self.emulator.objects[key].deleted:
            return None
        return dict(self.emulator.objects[key].raw)

    def objects(self, resource: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
        return [
            dict(obj.raw)
            for (res, ns, _), obj in self.emulator.objects.items()
            if res == kmock.resource(resource) and ns == namespace and not obj.deleted
        ]

    def put(self, resource: str, body: dict[str, Any], namespace: str = NAMESPACE) -> None:
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        meta.setdefault("resourceVersion", resource_version())
        self.emulator.objects[resource, namespace, meta["name"]] = body

    def patch(self, resource: str, name: str, changes: dict[str, Any], namespace: str = NAMESPACE) -> None:
        """Merge `changes` in place (None removes a key), as a controller's PATCH would."""
        key = (kmock.resource(resource), namespace, name)
        if key in self.emulator.objects and not self.emulator.objects[key].deleted:
            self.emulator.objects[key].patch(changes)

    def remove(self, resource: str, name: str, namespace: str = NAMESPACE) -> None:
        key = (kmock.resource(resource), namespace, name)
        if key in self.emulator.objects and not self.emulator.objects[key].deleted:
            self.emulator.objects[key].delete()

    def replicas(self, deployment: str, namespace: str = NAMESPACE) -> int:
        found = self.object(DEPLOYMENTS, deployment, namespace) or {}
        return int((found.get("spec") or {}).get("replicas") or 0)


class _Emulator(kmock.KubernetesEmulator):
    """kmock's emulator, taught two things an API server does on create: naming objects
    that have only a generateName (kopf's Events), and serving a new CRD's resource, whose
    Established condition `helm install` waits for."""

    async def _handle(self, request: kmock.Request) -> Any:
        data = request.data
        created = request.method == kmock.method.POST and isinstance(data, dict)
        if created:
            meta = data.get("metadata") or {}
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        response = await super()._handle(request)
        if created and data.get("kind") == "CustomResourceDefinition" and response.status < 300:
            self._establish(data)
        return response

    def _establish(self, crd: dict[str, Any]) -> None:
        spec, names = crd["spec"], crd["spec"]["names"]
        for version in spec["versions"]:
            self.resources[f"{spec['group']}/{version['name']}/{names['plural']}"] = kmock.ResourceInfo(
                kind=names["kind"],
                singular=names.get("singular"),
                namespaced=spec.get("scope") == "Namespaced",
                verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
                subresources=set(version.get("subresources") or {}),
            )
        key = (kmock.resource(CRDS), None, crd["metadata"]["name"])
        if key in self.objects:
            conditions = [{"type": t, "status": "True"} for t in ("NamesAccepted", "Established")]
            self.objects[key].patch({"status": {"conditions": conditions, "acceptedNames": names}})


def _core_discovery(emulator: _Emulator) -> Any:
    """kmock names the core group's version "/v1"; clients (helm's REST mapper) want "v1"."""

    async def render(request: kmock.Request) -> Any:
        document = await emulator._serve_version(request)
        assert isinstance(document, dict)  # kmock's discovery documents are dicts
        return {**document, "groupVersion": "v1"}

    return render


def _scale_of(cluster: EmulatedCluster) -> Any:
    def render(request: kmock.Request) -> dict[str, Any]:
        deployment = cluster.object(DEPLOYMENTS, str(request.name), str(request.namespace))
        if deployment is None:
            raise kmock.KubernetesObjectNotFoundError()
        labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                "name": request.name,
                "namespace": request.namespace,
                "resourceVersion": deployment["metadata"].get("resourceVersion", "1"),
            },
            "spec": {"replicas": int((deployment.get("spec") or {}).get("replicas") or 0)},
            "status": {
                "replicas": int((deployment.get("status") or {}).get("replicas") or 0),
                "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            },
        }

    return render


def _kubeconfig(url: str, path: Path) -> Path:
    path.write_text(  # JSON is YAML: every kubeconfig reader takes it
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "emulated", "cluster": {"server": url}}],
                "users": [{"name": "murmur", "user": {"token": "emulated"}}],
                "contexts": [
                    {
                        "name": "emulated",
                        "context": {"cluster": "emulated", "user": "murmur", "namespace": NAMESPACE},
                    }
                ],
                "current-context": "emulated",
            }
        )
    )
    return path


@contextlib.asynccontextmanager
async def emulated_cluster(workdir: Path, *, port: int | None = None) -> AsyncIterator[EmulatedCluster]:
    async with _Emulator() as emulator, kmock.Server(emulator, port=port) as server:
        emulator.resources.load_bundled()
        emulator.resources[AUTOSCALERS] = kmock.ResourceInfo(
            kind="FanoutAutoscaler",
            singular="fanoutautoscaler",
            namespaced=True,
            verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
            subresources={"status"},
        )
        url = str(server.url).rstrip("/")
        cluster = EmulatedCluster(emulator, url, _kubeconfig(url, workdir / "kubeconfig"))
        emulator[kmock.method.GET, kmock.resource(DEPLOYMENTS), kmock.subresource("scale")] << _scale_of(
            cluster
        )
        emulator["get /version"] << SERVER_VERSION  # kmock says 1.26; the chart needs 1.27+
        emulator["get /api/v1"] << _core_discovery(emulator)
        yield cluster


def worker_deployment(
    name: str, *, replicas: int = 0, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = labels or {"app.kubernetes.io/name": "murmur", "app.kubernetes.io/component": "worker"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "worker", "ports": [{"name": "metrics", "containerPort": 9100}]}]
                },
            },
        },
        "status": {"replicas": replicas},
    }


def autoscaler(
    name: str, deployment: str, queues: list[str], *, endpoint_url: str, region: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """A FanoutAutoscaler for `deployment`'s workers, reading `queues` (names) from SQS."""
    return {
        "apiVersion": "murmur.io/v1alpha1",
        "kind": "FanoutAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "sqs": {"queues": [{"name": q} for q in queues], "region": region, "endpointUrl": endpoint_url},
            **spec,
        },
    }


def worker_pod(
    name: str, *, metrics_port: int, labels: dict[str, str] | None = None, ready: bool = True
) -> dict[str, Any]:
    """A worker pod as the ReplicaSet would make it, on this machine (podIP 127.0.0.1):
    its `metrics` port is where the real process serves /metrics."""
    labels = labels or {"app.kubernetes.io/name": "murmur", "app.kubernetes.io/component": "worker"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [{"name": "worker", "ports": [{"name": "metrics", "containerPort": metrics_port}]}]
        },
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
