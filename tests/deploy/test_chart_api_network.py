"""The API's network settings the chart decides (security review, issue 16): the metrics port
listens where Prometheus can reach it only because the chart says so (Murmur binds it to
loopback by default), and behind the ALB the client address and keep-alive follow the ALB."""

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


def _api_env(tools: Tools, *extra: str) -> dict[str, str | None]:
    objects = render(tools, CHART / "ci" / "eks-values.yaml", *extra)
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "murmur-api")
    return {e["name"]: e.get("value") for e in pod_spec(api)["containers"][0]["env"]}


@pytest.mark.parametrize(
    ("extra", "proxies"),
    [
        (("--set", "api.ingress.enabled=false"), "0"),  # no Ingress: clients reach the Service directly
        ((), "1"),  # the example's ALB Ingress
        (
            (
                "--set",
                "api.ingress.enabled=true",
                "--set",
                "api.ingress.host=x.example.com",
                "--set",
                "api.trustedProxies=2",
            ),
            "2",
        ),
    ],
    ids=["no-ingress", "alb", "alb-behind-a-cdn"],
)
def test_the_client_address_follows_the_proxies_in_front(
    tools: Tools, extra: tuple[str, ...], proxies: str
) -> None:
    env = _api_env(tools, *extra)
    assert env["MURMUR_RATE_LIMIT__TRUSTED_PROXIES"] == proxies
    assert int(env["MURMUR_API__KEEP_ALIVE_SECONDS"] or 0) > 60  # outlives the ALB's idle timeout
