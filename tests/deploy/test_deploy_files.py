"""The rest of the deploy: kustomize overlays, the Terraform, skaffold and the Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import jsonpatch
import pytest
import yaml

from tests.deploy.conftest import CHART, ROOT, TOOLS, Tools, checkov_summary, documents

OVERLAYS = sorted(p.name for p in (ROOT / "k8s" / "overlays").iterdir() if p.is_dir())
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def kustomize(tools: Tools, overlay: str) -> str:
    # kustomize's helm inflation calls `helm version -c`, gone in helm 4: it gets helm 3
    return tools.run(
        [
            tools.kubectl,
            "kustomize",
            "--enable-helm",
            "--helm-command",
            TOOLS / "helm3",
            ROOT / "k8s" / "overlays" / overlay,
        ]
    ).stdout


def test_the_overlays_are_local_and_eks() -> None:
    assert OVERLAYS == ["eks", "local"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_validates(tools: Tools, overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(kustomize(tools, overlay))
    checked = tools.run([tools.kubernetes_validate, "--strict", rendered])
    assert "ERROR" not in checked.stdout + checked.stderr
    objects = documents(rendered.read_text())
    assert all(
        o["metadata"].get("namespace", "murmur") == "murmur" for o in objects if o["kind"] != "Namespace"
    )
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "murmur")[
        "data"
    ]
    assert "set-by-overlay" not in " ".join(config.values())
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "CustomResourceDefinition", "FanoutAutoscaler", "Role"} <= kinds


def test_the_local_overlay_points_everything_at_its_stand_ins(tools: Tools) -> None:
    objects = documents(kustomize(tools, "local"))
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "murmur")[
        "data"
    ]
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    assert {"redis", "mongo", "neo4j", "localstack"} <= services
    assert config["MURMUR_NEPTUNE__URI"] == "bolt://neo4j:7687"
    assert config["MURMUR_AWS__ENDPOINT_URL"] == "http://localstack:4566"
    scaler = next(o for o in objects if o["kind"] == "FanoutAutoscaler")
    assert scaler["spec"]["sqs"]["endpointUrl"] == "http://localstack:4566"
    assert any(
        o["kind"] == "Job" and o["spec"]["template"]["spec"]["containers"][0]["args"] == ["init"]
        for o in objects
    )


# --- Terraform ------------------------------------------------------------------------------


def terraform_files() -> list[Path]:
    return sorted((ROOT / "terraform").rglob("*.tf"))


def test_every_terraform_file_parses() -> None:
    assert len(terraform_files()) >= 9
    for path in terraform_files():
        assert isinstance(hcl2.loads(path.read_text()), dict), path


def test_checkov_passes_the_terraform(tools: Tools) -> None:
    scanned = checkov_summary(tools, ROOT / "terraform", ["terraform"])
    assert scanned["resources"] > 0, scanned["raw"]
    assert scanned["failed"] == [], scanned["failed"]
    waivers = re.findall(r"#checkov:skip=(\S+?):(.+)", "".join(p.read_text() for p in terraform_files()))
    assert all(reason.strip() for _, reason in waivers), "every waiver says why"


def _leaf_paths(tree: Any, prefix: str = "") -> set[str]:
    if isinstance(tree, dict):
        return set().union(*(_leaf_paths(v, f"{prefix}.{k}" if prefix else k) for k, v in tree.items()))
    return {prefix}


def _output_object(expr: Any) -> Any:
    """python-hcl2 gives blocks and object expressions as dicts whose keys may keep quotes."""
    if isinstance(expr, list):
        return {k: v for item in expr for k, v in _output_object(item).items()}
    if isinstance(expr, dict):
        return {str(k).strip('"'): _output_object(v) for k, v in expr.items()}
    return expr


def test_the_example_outputs_every_endpoint_the_charts_eks_values_need() -> None:
    outputs = _output_object(
        hcl2.loads((ROOT / "terraform" / "examples" / "eks" / "outputs.tf").read_text())["output"][0]
    )
    helm_values = outputs["helm_values"]["value"]
    provided = _leaf_paths(helm_values)
    needed = {
        "config.aws.region",
        "config.aws.timelinesTable",
        "config.aws.fanoutQueue",
        "config.aws.fanoutBulkQueue",
        "config.aws.deadLetterQueue",
        "config.neptune.endpoint",
        "config.neptune.iamAuth",
        "config.redis.endpoint",
        "config.redis.tls",
        "config.documentdb.retryWrites",
        "api.serviceAccount.annotations.eks.amazonaws.com/role-arn",
        "worker.serviceAccount.annotations.eks.amazonaws.com/role-arn",
        "operator.serviceAccount.annotations.eks.amazonaws.com/role-arn",
    }
    assert needed <= provided, needed - provided
    # and each is a value the chart's EKS variant sets
    eks = _leaf_paths(yaml.safe_load((CHART / "ci" / "eks-values.yaml").read_text()))
    assert needed - {"config.documentdb.retryWrites"} <= eks  # retryWrites: the chart's default, false


# --- skaffold and the images ------------------------------------------------------------------


def test_skaffold_builds_three_images_and_wires_each_into_the_chart() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    major, minor = re.fullmatch(r"skaffold/v(\d+)beta(\d+)", config["apiVersion"]).groups()  # type: ignore[union-attr]
    assert (int(major), int(minor)) >= (4, 13)
    targets = set(re.findall(r"^FROM \S+ AS (\w+)", DOCKERFILE.read_text(), re.MULTILINE))
    artifacts = {a["image"]: a["docker"]["target"] for a in config["build"]["artifacts"]}
    assert artifacts == {"murmur-api": "api", "murmur-worker": "worker", "murmur-operator": "operator"}
    assert set(artifacts.values()) <= targets
    templates = config["deploy"]["helm"]["releases"][0]["setValueTemplates"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key, template in templates.items():
        node = values
        for part in key.split("."):
            node = node[part]  # every key is one the chart has
        artifact = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}", template)
        assert artifact and artifact.group(2).replace("_", "-") in artifacts, template
    profiles = {p["name"]: p for p in config["profiles"]}
    assert set(profiles) == {"local", "eks"}
    for profile in profiles.values():  # each profile's patches apply to the config
        jsonpatch.apply_patch(config, profile.get("patches", []))


def test_the_dockerfile_passes_hadolint_and_runs_each_image_as_non_root(tools: Tools) -> None:
    done = tools.run([tools.hadolint, DOCKERFILE], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    text = DOCKERFILE.read_text()
    images = re.findall(r"^ARG \w+_IMAGE=(\S+)", text, re.MULTILINE)
    assert images and all(":" in i and not i.endswith(":latest") for i in images)
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    finals = {s.split()[2]: s for s in stages if s.split()[2] in ("api", "worker", "operator")}
    assert set(finals) == {"api", "worker", "operator"}
    for name, stage in finals.items():
        assert re.search(r"^USER 10001", stage, re.MULTILINE), name
    assert "uv sync --frozen" in text  # installed from uv.lock
