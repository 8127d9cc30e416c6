"""The deploy checks' tools: helm and kubectl from npm, checkov in its own environment
(scripts/deploy-tools.sh fetches them; make test runs it first, a lone pytest run here too)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "murmur"
TOOLS = ROOT / ".cache" / "deploy-tools" / "bin"
CHECKOV = ROOT / "tools" / "checkov" / ".venv" / "bin" / "checkov"


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubectl: Path
    checkov: Path
    kubernetes_validate: Path
    hadolint: Path

    def env(self) -> dict[str, str]:
        """checkov's helm and kustomize runners find helm and kubectl on PATH."""
        return {**os.environ, "PATH": f"{TOOLS}{os.pathsep}{os.environ['PATH']}"}

    def run(
        self, argv: list[str | Path], *, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(a) for a in argv], cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=300
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done


@pytest.fixture(scope="session")
def tools() -> Tools:
    subprocess.run([str(ROOT / "scripts" / "deploy-tools.sh")], check=True, timeout=600)
    bin_dir = Path(sys.executable).parent
    return Tools(
        helm=TOOLS / "helm",
        kubectl=TOOLS / "kubectl",
        checkov=CHECKOV,
        kubernetes_validate=bin_dir / "kubernetes-validate",
        hadolint=bin_dir / "hadolint",
    )


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the chart's values."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def checkov_summary(tools: Tools, folder: Path, frameworks: list[str]) -> dict[str, Any]:
    """checkov run from inside `folder` (from elsewhere it was seen to print nothing)."""
    done = tools.run(
        [tools.checkov, "-d", ".", "--framework", *frameworks, "--skip-download", "-o", "json", "--quiet"],
        cwd=folder,
        check=False,
    )
    reports = yaml.safe_load(done.stdout) if done.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    return {
        "failed": failed,
        "passed": sum(r.get("summary", {}).get("passed", 0) for r in reports),
        "resources": sum(r.get("summary", {}).get("resource_count", 0) for r in reports),
        "skipped": sum(r.get("summary", {}).get("skipped", 0) for r in reports),
        "raw": done.stdout[-2000:] + done.stderr[-2000:],
    }
