"""Rate limits per user and per address: 429 with Retry-After and RATE_LIMITED, counted in
process on the embedded profile and in Redis (shared by every API process) in the cloud."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from api_helpers import make_settings, running_app

from murmur.settings import Settings
from tests.servers import RedisServer
from tests.servers._process import free_port

QUERY = {"query": "{ viewer { id } }"}
REGISTER = 'mutation($u: String!) { register(username: $u, password: "correct-horse") { ... on AuthPayload { token } } }'


def _limited(tmp_path: Path, **overrides: Any) -> Settings:
    rates = {"per_user": "3/minute", "per_ip": "6/minute", "trust_forwarded_for": True}
    return make_settings(tmp_path, rate_limit={**rates, **overrides.pop("rate_limit", {})}, **overrides)


def _from(address: str, token: str | None = None) -> dict[str, str]:
    return {"X-Forwarded-For": address, **({"Authorization": f"Bearer {token}"} if token else {})}


async def _token(http: httpx.AsyncClient, address: str) -> str:
    answer = await http.post(
        "/graphql",
        json={"query": REGISTER, "variables": {"u": f"r{uuid.uuid4().hex[:8]}"}},
        headers=_from(address),
    )
    return str(answer.json()["data"]["register"]["token"])


async def test_a_user_over_the_limit_is_told_when_to_retry(tmp_path: Path) -> None:
    async with running_app(_limited(tmp_path)) as (_, http):
        token = await _token(http, "10.0.0.1")  # one request of the address's six
        statuses = [
            (await http.post("/graphql", json=QUERY, headers=_from("10.0.0.2", token))).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await http.post("/graphql", json=QUERY, headers=_from("10.0.0.2", token))
        seconds = int(refused.headers["retry-after"])
        assert 1 <= seconds <= 60
        assert refused.json() == {
            "errors": [
                {
                    "message": f"Too many requests: try again in {seconds} s.",
                    "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": seconds},
                }
            ]
        }
        # another user at another address is not held back by this one
        other = await _token(http, "10.0.0.3")
        assert (await http.post("/graphql", json=QUERY, headers=_from("10.0.0.4", other))).status_code == 200


async def test_an_address_over_its_limit_is_refused_whoever_logs_in(tmp_path: Path) -> None:
    async with running_app(_limited(tmp_path)) as (_, http):
        statuses = [
            (await http.post("/graphql", json=QUERY, headers=_from("10.0.1.1"))).status_code for _ in range(7)
        ]
        assert statuses == [200] * 6 + [429]
        assert (await http.post("/graphql", json=QUERY, headers=_from("10.0.1.2"))).status_code == 200


async def test_forwarded_for_is_ignored_unless_trusted(tmp_path: Path) -> None:
    async with running_app(_limited(tmp_path, rate_limit={"trust_forwarded_for": False})) as (_, http):
        statuses = [
            (await http.post("/graphql", json=QUERY, headers=_from(f"10.0.2.{i}"))).status_code
            for i in range(7)
        ]
        assert statuses == [200] * 6 + [429]  # a client cannot dodge its limit with a made-up header


async def test_the_limits_are_shared_through_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    cloud = {"stores": {"cache": "redis", "bus": "redis"}, "redis": {"url": redis_server.url}}
    address = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with (
        running_app(_limited(tmp_path / "a", **cloud)) as (_, first),
        running_app(_limited(tmp_path / "b", **cloud)) as (_, second),
    ):
        statuses = [
            (
                await (first if i % 2 else second).post("/graphql", json=QUERY, headers=_from(address))
            ).status_code
            for i in range(7)
        ]
        assert statuses == [200] * 6 + [429]  # two API processes, one budget


async def test_without_redis_the_limits_let_requests_through(tmp_path: Path) -> None:
    gone = {
        "stores": {"cache": "redis", "bus": "redis"},
        "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"},
    }
    async with running_app(_limited(tmp_path, **gone)) as (_, http):
        statuses = [
            (await http.post("/graphql", json=QUERY, headers=_from("10.2.0.1"))).status_code for _ in range(8)
        ]
        assert statuses == [200] * 8


async def test_an_ipv6_network_shares_one_budget(tmp_path: Path) -> None:
    """Behind the proxy, addresses from one IPv6 /64 (one subscriber) count as one client;
    another /64, or an IPv4 address, has a budget of its own."""
    async with running_app(_limited(tmp_path)) as (_, http):
        statuses = [
            (await http.post("/graphql", json=QUERY, headers=_from(f"2001:db8:0:1::{i:x}"))).status_code
            for i in range(7)
        ]
        assert statuses == [200] * 6 + [429]
        assert (await http.post("/graphql", json=QUERY, headers=_from("2001:db8:0:2::1"))).status_code == 200
        assert (await http.post("/graphql", json=QUERY, headers=_from("::ffff:192.0.2.7"))).status_code == 200
        assert (await http.post("/graphql", json=QUERY, headers=_from("192.0.2.7"))).status_code == 200
