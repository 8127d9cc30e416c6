"""`murmur experiment --smoke`: the whole study on a tiny graph, with real servers and Locust."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtest.report import SECTIONS

STRATEGIES = ["push", "pull", "hybrid", "cost-model"]

# the first test runs the whole study in its fixture (about 2-3 minutes, 400 s at most)
pytestmark = pytest.mark.timeout(450)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("study")
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "experiment", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "study.json").read_text()), (out / "report.html").read_text(), out


def test_every_cell_ran_its_workload_without_failures(study: tuple[dict[str, Any], str, Path]) -> None:
    data, _, out = study
    assert [c["cell"]["strategy"] for c in data["cells"]] == ["push", "pull", "hybrid", "cost-model"]
    for cell in data["cells"]:
        name = cell["cell"]["name"]
        assert cell["failures"] == 0, (name, cell["failure_samples"])
        requests = cell["requests"]
        assert requests["homeTimeline"]["count"] > 0 and requests["createPost"]["count"] > 0, name
        assert cell["reads"] > cell["writes"] > 0, name
        assert any(op.startswith("post→ADDED") for op in requests), name  # the websocket probe
        assert cell["store_operations_per_request"] > 0, name
        assert cell["fanout"]["posts_completed"] > 0, name
        assert cell["processes"]["murmur"]["rss_max_mb"] > 0, name
        assert (out / "cells" / name / "locust.html").exists()
        assert (out / "cells" / name / "locust_stats.csv").exists()
    materialised = {c["cell"]["strategy"]: c["storage"]["timeline_entries"] for c in data["cells"]}
    assert materialised["pull"] == 0 < materialised["push"]


def test_the_strategies_timelines_agree_and_races_leave_nothing_wrong(
    study: tuple[dict[str, Any], str, Path],
) -> None:
    data, _, _ = study
    assert data["agreement"] == {"strategies": STRATEGIES, "equal": True, "differing": []}
    timelines = data["consistency"]["push"]["timelines"]
    assert sum(len(t) for t in timelines) > 0  # something was compared
    for strategy in STRATEGIES:
        result = data["consistency"][strategy]
        assert result["permanent"] == 0, result["anomalies"]
        assert sum(len(v) for v in result["visibility_ms"].values()) > 0
        assert all(a["explanation"] for a in result["anomalies"])


def test_the_cost_model_got_measured_weights(study: tuple[dict[str, Any], str, Path]) -> None:
    costs = study[0]["costs"]
    assert costs["push_cost"] > 0 and costs["pull_cost"] > 0 and costs["how"]


def test_the_report_is_one_self_contained_page_with_every_section(
    study: tuple[dict[str, Any], str, Path],
) -> None:
    data, page, _ = study
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in page
    assert page.count("<svg") >= 10
    assert not re.search(r"<(script|link|img)\b[^>]*(src|href)=", page)  # nothing fetched from anywhere
    assert len(data["findings"]) == 5
    for finding in data["findings"]:
        assert finding["verdict"] and finding["original"] in page
