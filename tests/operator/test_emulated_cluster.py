"""What devstack/kube.py teaches kmock's emulator, so that kopf, helm and kubectl-style
clients see a Kubernetes API where kmock alone differs from one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import yaml

from devstack.kube import DEPLOYMENTS, EmulatedCluster, emulated_cluster, worker_deployment

CRD = Path(__file__).resolve().parents[2] / "helm" / "murmur" / "crds" / "fanoutautoscalers.murmur.io.yaml"


async def test_discovery_version_and_scale_look_like_a_real_server(tmp_path: Path) -> None:
    async with emulated_cluster(tmp_path) as cluster, aiohttp.ClientSession(base_url=cluster.url) as http:
        core = await (await http.get("/api/v1")).json()
        assert core["groupVersion"] == "v1"  # kmock alone says "/v1"
        version = await (await http.get("/version")).json()
        assert (int(version["major"]), int(version["minor"])) >= (1, 27)  # the chart's kubeVersion
        cluster.put(DEPLOYMENTS, worker_deployment("w", replicas=3))
        scale = await (await http.get("/apis/apps/v1/namespaces/murmur/deployments/w/scale")).json()
        assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3
        assert (
            scale["status"]["selector"] == "app.kubernetes.io/component=worker,app.kubernetes.io/name=murmur"
        )


async def test_a_created_crd_is_established_and_served(tmp_path: Path) -> None:
    async with emulated_cluster(tmp_path) as cluster, aiohttp.ClientSession(base_url=cluster.url) as http:
        crd = yaml.safe_load(CRD.read_text())
        crd["spec"]["group"] = "example.murmur.io"  # a group the emulator did not know before
        created = await http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
        assert created.status < 300, await created.text()
        stored = cluster_object(cluster, crd["metadata"]["name"])
        assert {"type": "Established", "status": "True"} in stored["status"]["conditions"]
        served = await (await http.get("/apis/example.murmur.io/v1alpha1")).json()
        assert [r["name"] for r in served["resources"]] == ["fanoutautoscalers", "fanoutautoscalers/status"]


async def test_objects_posted_with_a_generate_name_get_distinct_names(tmp_path: Path) -> None:
    async with emulated_cluster(tmp_path) as cluster, aiohttp.ClientSession(base_url=cluster.url) as http:
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": "scaled-"},
            "reason": "Scaled",
        }
        for _ in range(2):
            answer = await http.post("/api/v1/namespaces/murmur/events", json=event)
            assert answer.status < 300, await answer.text()
        names = [e["metadata"]["name"] for e in cluster.objects("v1/events")]
        assert len(set(names)) == 2 and all(n.startswith("scaled-") for n in names)


def cluster_object(cluster: EmulatedCluster, name: str) -> dict[str, Any]:
    found = cluster.object("apiextensions.k8s.io/v1/customresourcedefinitions", name, namespace=None)
    assert found is not None
    return found
