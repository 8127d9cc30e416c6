"""What the operator asks of Kubernetes: the target's scale subresource, its pods, and
each pod's deletion cost. Nothing else (the RBAC in the chart grants exactly this)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


@dataclass(frozen=True, slots=True)
class Scale:
    replicas: int
    selector: str  # a label selector, as the scale subresource gives it


@dataclass(frozen=True, slots=True)
class Pod:
    name: str
    ip: str | None
    ready: bool
    terminating: bool
    ports: dict[str, int]  # container port name → number
    deletion_cost: str | None


async def load_credentials() -> None:
    """In a pod: its service account. Elsewhere: the kubeconfig ($KUBECONFIG or ~/.kube)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        # read $KUBECONFIG now: the library reads it once, when imported
        await config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))


class Cluster:
    def __init__(self, api: client.ApiClient) -> None:
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)

    async def scale(self, namespace: str, name: str) -> Scale:
        raw = await _json(self._apps.read_namespaced_deployment_scale, name, namespace)
        spec, status = raw.get("spec") or {}, raw.get("status") or {}
        return Scale(replicas=int(spec.get("replicas") or 0), selector=str(status.get("selector") or ""))

    async def set_replicas(self, namespace: str, name: str, replicas: int) -> None:
        await self._apps.patch_namespaced_deployment_scale(
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )

    async def pods(self, namespace: str, selector: str) -> list[Pod]:
        raw = await _json(self._core.list_namespaced_pod, namespace, label_selector=selector)
        wanted = _equality_terms(selector)
        pods = []
        for item in raw.get("items") or ():
            meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
            labels = meta.get("labels") or {}
            if any(labels.get(key) != value for key, value in wanted.items()):
                continue  # the server filters; this guards a server that does not
            conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
            pods.append(
                Pod(
                    name=str(meta["name"]),
                    ip=status.get("podIP"),
                    ready=conditions.get("Ready") == "True",
                    terminating=bool(meta.get("deletionTimestamp")),
                    ports={
                        str(port["name"]): int(port["containerPort"])
                        for container in spec.get("containers") or ()
                        for port in container.get("ports") or ()
                        if port.get("name")
                    },
                    deletion_cost=(meta.get("annotations") or {}).get(DELETION_COST),
                )
            )
        return pods

    async def set_deletion_cost(self, namespace: str, pod: str, cost: int | None) -> None:
        """None removes the annotation (what the operator leaves behind when deleted)."""
        body = {"metadata": {"annotations": {DELETION_COST: None if cost is None else str(cost)}}}
        await self._core.patch_namespaced_pod(
            pod,
            namespace,
            body,
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )


async def _json(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The raw JSON of a read: the typed models would drop what they do not know."""
    response = await call(*args, _preload_content=False, **kwargs)
    return dict(json.loads(await response.read()))


def _equality_terms(selector: str) -> dict[str, str]:
    terms = {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term or "=" not in term:
            continue
        key, _, value = term.replace("==", "=").partition("=")
        terms[key.strip()] = value.strip()
    return terms
