"""Rate limits per user and per address: 429 with Retry-After and RATE_LIMITED, counted in
process on the embedded profile and in Redis (shared by every API process) in the cloud."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import make_settings, running_app

import api.rate_limit
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


# --- issue 18: Retry-After, the routes that count, and each budget's boundary ---


class _Clock:
    """A fixed time.time() for the one module that reads it (api.rate_limit)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("remaining", "seconds"),
    [(0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (2.5, 3), (2.999, 3), (59.01, 60), (0.0, 1), (-3.5, 1)],
)
def test_retry_after_is_the_wait_in_whole_seconds_rounded_up(
    monkeypatch: pytest.MonkeyPatch, remaining: float, seconds: int
) -> None:
    """Retry-After is an integer (RFC 9110 10.2.3). Rounded down, a client that obeys it
    comes back early and is refused again; 0 or less would mean "allowed" (Verdict(0)); a
    reset already past still says 1, never 0."""
    clock = _Clock(1_700_000_000.25)
    monkeypatch.setattr(api.rate_limit, "time", clock)
    assert api.rate_limit._seconds_until(clock.now + remaining) == seconds
    assert not api.rate_limit.Verdict(seconds).allowed


async def _at_the_start_of_a_window(seconds: int) -> None:
    """Wait (letting real time pass, no synchronisation) until a fixed window of `seconds`
    has just begun, so a refusal right after falls most of a window before the reset: a
    Retry-After rounded down would then be a whole second early."""
    phase = time.time() % seconds
    if phase > 0.2:
        await asyncio.sleep(seconds - phase + 0.05)


async def test_a_client_that_waits_retry_after_is_let_through(tmp_path: Path) -> None:
    """The boundary: after exactly Retry-After seconds the window has reset and the next
    request passes (one per 2 s, windows counted from the epoch)."""
    async with running_app(_limited(tmp_path, rate_limit={"per_ip": "1/2second"})) as (_, http):
        await _at_the_start_of_a_window(2)
        assert (await http.post("/graphql", json=QUERY, headers=_from("10.3.0.1"))).status_code == 200
        refused = await http.post("/graphql", json=QUERY, headers=_from("10.3.0.1"))
        assert refused.status_code == 429
        seconds = int(refused.headers["retry-after"])
        assert 1 <= seconds <= 2
        assert refused.json()["errors"][0]["extensions"]["retryAfterSeconds"] == seconds
        await asyncio.sleep(seconds)  # what an obedient client does
        assert (await http.post("/graphql", json=QUERY, headers=_from("10.3.0.1"))).status_code == 200


async def test_every_request_to_graphql_counts_get_included_and_nothing_else(tmp_path: Path) -> None:
    """GET /graphql runs queries and serves the GraphiQL page: both spend the budget like a
    POST. Only the other routes (health, readiness, metrics, GraphiQL's static files) are
    exempt: they neither spend it nor are refused once it is spent."""
    exempt = ["/healthz", "/readyz", "/metrics", "/graphiql/murmur-graphiql.js"]
    page = {"accept": "text/html"}
    async with running_app(_limited(tmp_path, rate_limit={"per_ip": "4/minute"})) as (_, http):
        for _ in range(3):  # twelve requests to exempt routes: none spends the budget
            assert [(await http.get(path)).status_code for path in exempt] == [200] * 4
        spent = [
            await http.get("/graphql", params=QUERY),
            await http.post("/graphql", json=QUERY),
            await http.get("/graphql", headers=page),
            await http.get("/graphql", params=QUERY),
        ]
        assert [answer.status_code for answer in spent] == [200] * 4  # the fourth of four passes
        refused = [
            await http.get("/graphql", params=QUERY),
            await http.get("/graphql", headers=page),
            await http.post("/graphql", json=QUERY),
        ]
        assert [answer.status_code for answer in refused] == [429] * 3
        assert all(int(answer.headers["retry-after"]) >= 1 for answer in refused)
        assert [(await http.get(path)).status_code for path in exempt] == [200] * 4


async def test_a_users_budget_follows_the_token_however_the_scheme_is_written(tmp_path: Path) -> None:
    """The middleware reads the Authorization header as the context does (api/context.py):
    a case-changed scheme or extra spaces spend the same user's budget, from any address."""
    async with running_app(_limited(tmp_path, rate_limit={"per_ip": "100/minute"})) as (_, http):
        token = await _token(http, "10.4.0.1")
        forms = ["Bearer {t}", "bearer {t}", "BEARER   {t}", "Bearer {t}"]
        statuses = [
            (
                await http.post(
                    "/graphql",
                    json=QUERY,
                    headers={"X-Forwarded-For": f"10.4.1.{i}", "Authorization": form.format(t=token)},
                )
            ).status_code
            for i, form in enumerate(forms)
        ]
        assert statuses == [200, 200, 200, 429]  # per_user: 3/minute


LOGIN = (
    'mutation($u: String!) { login(username: $u, password: "correct-horse") '
    "{ __typename ... on TooManyAttempts { retryAfterSeconds } } }"
)
REGISTER_KIND = (
    'mutation($u: String!) { register(username: $u, password: "correct-horse") '
    "{ __typename ... on TooManyAttempts { retryAfterSeconds } } }"
)


@pytest.mark.parametrize(
    ("budget", "mutation", "passed"),
    [("login_per_ip", LOGIN, "InvalidCredentials"), ("register_per_ip", REGISTER_KIND, "AuthPayload")],
)
async def test_the_nth_login_or_registration_passes_and_the_next_is_told_when(
    tmp_path: Path, budget: str, mutation: str, passed: str
) -> None:
    """Three per address: the third passes, the fourth answers TooManyAttempts with the same
    whole seconds in its retryAfterSeconds and in the Retry-After header. Each attempt names
    another account, so only the address's budget is tested (not the per-account backoff)."""
    settings = _limited(tmp_path, rate_limit={"per_ip": "100/minute", budget: "3/minute"})
    async with running_app(settings) as (_, http):
        answers = [
            await http.post(
                "/graphql",
                json={"query": mutation, "variables": {"u": f"account{i}"}},
                headers=_from("10.5.0.1"),
            )
            for i in range(4)
        ]
        results = [answer.json()["data"] for answer in answers]
        kinds = [next(iter(result.values()))["__typename"] for result in results]
        assert kinds == [passed] * 3 + ["TooManyAttempts"]
        seconds = next(iter(results[-1].values()))["retryAfterSeconds"]
        assert isinstance(seconds, int) and 1 <= seconds <= 60
        assert answers[-1].headers["retry-after"] == str(seconds)
        assert all("retry-after" not in answer.headers for answer in answers[:3])
