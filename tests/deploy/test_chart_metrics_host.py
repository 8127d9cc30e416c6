"""The API's metrics port listens where Prometheus can reach it only because the chart says so:
Murmur binds it to loopback by default (security review, issue 16, finding 11)."""

from __future__ import annotations

import pytest

from tests.deploy.conftest import CHART, Tools
from tests.deploy.test_chart import VARIANTS, pod_spec, render


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_api_binds_its_metrics_port_to_every_address_in_the_pod(tools: Tools, variant: str) -> None:
    objects = render(tools, CHART / "ci" / variant)
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "murmur-api")
    container = pod_spec(api)["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MURMUR_API__METRICS_HOST"] == "0.0.0.0"
    assert int(env["MURMUR_API__METRICS_PORT"]) in {p["containerPort"] for p in container["ports"]}
