"""The Helm chart, for each ci/*-values.yaml: lint, render, validate against Kubernetes'
schemas (and the CRD's), pass checkov, and hold the chart's own promises."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import CHART, Tools, checkov_summary, documents, merged

VARIANTS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
SECURE = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def render(tools: Tools, values: Path, *extra: str) -> list[dict[str, Any]]:
    done = tools.run([tools.helm, "template", "murmur", CHART, "-f", values, "--namespace", "murmur", *extra])
    return documents(done.stdout)


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("Deployment", "Pod")]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def test_both_variants_are_here() -> None:
    assert VARIANTS == ["eks-values.yaml", "embedded-values.yaml"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint_render_and_validate(tools: Tools, variant: str, tmp_path: Path) -> None:
    values = CHART / "ci" / variant
    tools.run([tools.helm, "lint", "--strict", CHART, "-f", values])
    rendered = tmp_path / "rendered.yaml"
    done = tools.run([tools.helm, "template", "murmur", CHART, "-f", values, "--namespace", "murmur"])
    rendered.write_text(done.stdout)
    checked = tools.run([tools.kubernetes_validate, "--strict", rendered])
    assert "ERROR" not in checked.stdout + checked.stderr
    # the kinds kubernetes-validate has no schema for: ours, against the CRD's own schema
    crd = yaml.safe_load((CHART / "crds" / "fanoutautoscalers.murmur.io.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for obj in documents(done.stdout):
        if obj["kind"] == "FanoutAutoscaler":
            # Kubernetes' structural schemas are OpenAPI v3 with draft 4's boolean exclusiveMinimum
            jsonschema.Draft4Validator(schema).validate(
                {k: v for k, v in obj.items() if k in ("spec", "status")}
            )


@pytest.mark.parametrize("variant", VARIANTS)
def test_checkov_passes_the_rendered_chart_and_the_chart_itself(
    tools: Tools, variant: str, tmp_path: Path
) -> None:
    values = CHART / "ci" / variant
    # the manifests as installed (namespace murmur), scanned with every check on
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "murmur.yaml").write_text(
        tools.run([tools.helm, "template", "murmur", CHART, "-f", values, "--namespace", "murmur"]).stdout
    )
    scanned = checkov_summary(tools, manifests, ["kubernetes"])
    assert scanned["resources"] > 0, scanned["raw"]
    assert scanned["failed"] == [], scanned["failed"]
    # the chart through checkov's helm runner, these values as its defaults (.checkov.yaml waives)
    chart = tmp_path / "murmur"
    shutil.copytree(CHART, chart)
    base = yaml.safe_load((chart / "values.yaml").read_text())
    (chart / "values.yaml").write_text(yaml.safe_dump(merged(base, yaml.safe_load(values.read_text()))))
    scanned = checkov_summary(tools, chart, ["helm"])
    assert scanned["resources"] > 0, scanned["raw"]
    assert scanned["failed"] == [], scanned["failed"]


@pytest.mark.parametrize(
    ("wrong", "words"),
    [
        ({"profile": "serverless"}, "profile"),
        ({"config": {"fanout": "broadcast"}}, "fanout"),
        ({"config": {"aws": {"fanoutQueue": "not-a-fifo-queue"}}}, "fanoutQueue"),
        ({"worker": {"autoscaler": {"maxReplicas": 0}}}, "maxReplicas"),
        ({"api": {"port": 70000}}, "port"),
        ({"existingSecret": ""}, "existingSecret"),  # production needs its secrets
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_values_are_refused(tools: Tools, tmp_path: Path, wrong: dict[str, Any], words: str) -> None:
    good = yaml.safe_load((CHART / "ci" / "eks-values.yaml").read_text())
    bad = tmp_path / "bad-values.yaml"
    bad.write_text(yaml.safe_dump(merged(good, wrong)))
    done = tools.run([tools.helm, "template", "murmur", CHART, "-f", bad], check=False)
    assert done.returncode != 0
    assert words in done.stderr, done.stderr


def test_with_the_autoscaler_on_the_workers_have_no_replicas_and_a_drain_long_grace(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "eks-values.yaml")
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    worker = by["Deployment", "murmur-worker"]
    assert "replicas" not in worker["spec"]
    assert pod_spec(worker)["terminationGracePeriodSeconds"] > 25  # the drain, plus a margin
    scaler = by["FanoutAutoscaler", "murmur-worker"]
    assert scaler["spec"]["scaleTargetRef"]["name"] == "murmur-worker"
    assert [q["name"] for q in scaler["spec"]["sqs"]["queues"]] == [
        "murmur-fanout.fifo",
        "murmur-fanout-bulk.fifo",
    ]
    off = render(tools, CHART / "ci" / "eks-values.yaml", "--set", "worker.autoscaler.enabled=false")
    worker = next(o for o in off if o["kind"] == "Deployment" and o["metadata"]["name"] == "murmur-worker")
    assert worker["spec"]["replicas"] == 1
    assert not [o for o in off if o["kind"] in ("FanoutAutoscaler", "Role")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_security_labels_and_rbac(tools: Tools, variant: str) -> None:
    objects = render(tools, CHART / "ci" / variant)
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"):
            assert key in labels, (obj["kind"], obj["metadata"]["name"], key)
    for obj in workloads(objects):
        spec = pod_spec(obj)
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            context = container["securityContext"]
            assert {k: context.get(k) for k in SECURE} == SECURE, container["name"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
        if obj["metadata"]["labels"]["app.kubernetes.io/component"] != "operator":
            assert spec["automountServiceAccountToken"] is False
    for role in (o for o in objects if o["kind"] in ("Role", "ClusterRole")):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], rule
    assert all(o["kind"] != "ClusterRole" for o in objects)
    kinds = {o["kind"] for o in objects}
    assert "NetworkPolicy" in kinds


def test_eks_wires_every_component_to_its_own_irsa_role_and_the_stores(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "eks-values.yaml")
    roles = {
        o["metadata"]["name"]: o["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    assert sorted(roles) == ["murmur-api", "murmur-operator", "murmur-worker"]
    assert len(set(roles.values())) == 3
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert config["MURMUR_NEPTUNE__URI"].startswith("bolt+s://murmur.cluster-")
    assert config["MURMUR_NEPTUNE__IAM_AUTH"] == "true"
    assert config["MURMUR_REDIS__URL"].startswith("rediss://")
    assert config["MURMUR_MONGO__RETRY_WRITES"] == "false"
    assert config["MURMUR_MONGO__TLS_CA_FILE"].endswith(".pem")
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "murmur-api")
    env = {e["name"]: e for e in pod_spec(api)["containers"][0]["env"]}
    assert env["MURMUR_AUTH__JWT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "murmur-secrets"
    assert "Secret" not in {o["kind"] for o in objects}  # secrets only by reference


def test_embedded_is_one_pod_on_a_volume(tools: Tools) -> None:
    objects = render(tools, CHART / "ci" / "embedded-values.yaml")
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == ["murmur-api"]
    assert deployments[0]["spec"]["replicas"] == 1
    assert {o["kind"] for o in objects} >= {"PersistentVolumeClaim", "Service", "ConfigMap"}
    assert not {"HorizontalPodAutoscaler", "FanoutAutoscaler", "Role"} & {o["kind"] for o in objects}


def test_notes_say_how_to_reach_graphiql(tools: Tools) -> None:
    # helm template does not render NOTES; install --dry-run does
    done = tools.run(
        [
            tools.helm,
            "install",
            "murmur",
            CHART,
            "-f",
            CHART / "ci" / "embedded-values.yaml",
            "--dry-run=client",
            "--namespace",
            "murmur",
        ]
    )
    assert "port-forward svc/murmur-api" in done.stdout
    assert "GraphiQL opens there" in done.stdout
