"""The API's network settings the chart decides (security review, issue 16): the metrics port
listens where Prometheus can reach it only because the chart says so (Murmur binds it to
loopback by default), and behind the ALB the client address and keep-alive follow the ALB."""

from __future__ import annotations

from typing import Any

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


def _api_policy(tools: Tools, *extra: str) -> dict[str, Any]:
    objects = render(tools, CHART / "ci" / "eks-values.yaml", *extra)
    return next(o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "murmur-api")


def test_only_scrapers_reach_the_metrics_port(tools: Tools) -> None:
    """Review: the API's policy let anything reach /metrics (bound to every address in the pod)."""
    rules = _api_policy(tools)["spec"]["ingress"]
    metrics = next(r for r in rules if r["ports"] == [{"port": "metrics"}])
    assert metrics["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "murmur"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_the_http_port_takes_traffic_from_the_albs_subnets_when_given(tools: Tools) -> None:
    """Review: with trusted_proxies=1, a pod reaching the API past the ALB chose its own
    X-Forwarded-For address. Given the ALB's subnets, only they (and this release's pods and
    the ingress controller's namespace) reach the HTTP port."""
    open_rules = _api_policy(tools)["spec"]["ingress"]
    assert next(r for r in open_rules if r["ports"] == [{"port": "http"}]).get("from") is None
    rules = _api_policy(tools, "--set", "networkPolicy.apiSourceCidrs={10.0.0.0/24,10.0.1.0/24}")["spec"][
        "ingress"
    ]
    http = next(r for r in rules if r["ports"] == [{"port": "http"}])
    assert http["from"][:2] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "10.0.1.0/24"}}]
    assert len(http["from"]) == 4
