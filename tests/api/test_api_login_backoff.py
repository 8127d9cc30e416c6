"""The budgets of api/rate_limit.py in process, on a clock moved by hand (issue 18): the
login backoff (free failures, slots of 2^k s up to the maximum, one per account however its
name is cased, started over by a success), each budget counted apart from the others, the
byte budget of new documents, the 429 as ASGI sends it, and the warnings when the counters'
store cannot be reached. tests/hostile runs the backoff against a server in a subprocess;
these run the code in this process, where a mutation of it is seen."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from api_helpers import make_settings, running_app
from fixed_clock import TO_NEXT_MINUTE, Clock, fix_clock
from limits.errors import StorageError
from pydantic import SecretStr
from redis.asyncio import Redis
from starlette.types import Message, Receive, Scope, Send

from api.rate_limit import RateLimitMiddleware, RateLimits
from tests.servers._process import free_port
from tests.storage.test_redis import PrivateRedis, self_signed_certificate

ADDRESS = "10.20.0.1"
ROOMY = "100000/minute"  # a budget no test here reaches


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return fix_clock(monkeypatch)


def _limits(tmp_path: Path, **rates: Any) -> RateLimits:
    return RateLimits(make_settings(tmp_path, rate_limit={"login_per_ip": ROOMY, **rates}))


async def _attempt(limits: RateLimits, account: str, address: str = ADDRESS) -> int:
    """A login attempt's Retry-After: 0 when it may go ahead."""
    return (await limits.login_attempt(account=account, address=address)).retry_after_seconds


# --- the login backoff ---


@pytest.mark.parametrize(
    ("before", "wait"),
    [(0, 0), (2, 0), (3, 1), (4, 2), (5, 4), (6, 8), (9, 64), (10, 100), (40, 100)],
)
async def test_past_the_free_failures_each_slot_doubles_up_to_the_maximum(
    tmp_path: Path, clock: Clock, before: int, wait: int
) -> None:
    """Three free failures, at most 100 s. `before` attempts at one instant: the free ones
    pass, the next takes a 1 s slot, the rest are refused and still counted. Once that slot
    is over one attempt passes and holds the account for 2^(before - 3) s, capped at 100:
    the attempt right after it is told that wait (0: it passes as well)."""
    limits = _limits(tmp_path, login_failures_before_backoff=3, login_backoff_max_seconds=100)
    for _ in range(before):
        await _attempt(limits, "victim")
    clock.advance(1)
    assert await _attempt(limits, "victim") == 0
    assert await _attempt(limits, "victim") == wait


@pytest.mark.parametrize(("before", "wait"), [(31, 2**28), (33, 2**30), (34, 2**30), (200, 2**30)])
async def test_the_doubling_stops_at_2_to_the_30_whatever_the_maximum(
    tmp_path: Path, clock: Clock, before: int, wait: int
) -> None:
    """The exponent is capped (2^30 s, 34 years) so that a long run of failures never
    computes a huge power: a maximum set above it is never reached."""
    limits = _limits(tmp_path, login_failures_before_backoff=3, login_backoff_max_seconds=2**40)
    for _ in range(before):
        await _attempt(limits, "victim")
    clock.advance(1)
    assert await _attempt(limits, "victim") == 0
    assert await _attempt(limits, "victim") == wait


async def test_an_account_backs_off_alone_whatever_the_case_or_address(tmp_path: Path, clock: Clock) -> None:
    """Attempts at one account count together from any address and however its name is
    cased; another account's free failures and slot are its own."""
    limits = _limits(tmp_path, login_failures_before_backoff=2, login_backoff_max_seconds=100)
    alice = [
        await _attempt(limits, name, f"10.21.0.{i}")
        for i, name in enumerate(["alice", "ALICE", "Alice", "aLiCe"])
    ]
    assert alice == [0, 0, 0, 1]  # two free, one taking the 1 s slot, then held
    assert [await _attempt(limits, "bob") for _ in range(4)] == [0, 0, 0, 1]
    assert await _attempt(limits, "alice", "10.21.1.1") == 1
    clock.advance(1)
    # alice's five attempts so far: her next slot is 2^(5 - 2) = 8 s; bob's (four) 4 s
    assert [await _attempt(limits, "alice"), await _attempt(limits, "alice")] == [0, 8]
    assert [await _attempt(limits, "bob"), await _attempt(limits, "bob")] == [0, 4]


async def test_a_success_starts_the_count_and_the_slot_over(tmp_path: Path, clock: Clock) -> None:
    """A login that passes while the account is backing off, and succeeds: its free failures
    are free again, and the slot it held no longer holds the next attempt past them."""
    limits = _limits(tmp_path, login_failures_before_backoff=3, login_backoff_max_seconds=100)
    assert [await _attempt(limits, "carol") for _ in range(5)] == [0, 0, 0, 0, 1]
    clock.advance(1)
    assert await _attempt(limits, "carol") == 0  # the sixth: it holds the account for 8 s
    await limits.login_succeeded(account="Carol")
    assert [await _attempt(limits, "carol") for _ in range(5)] == [0, 0, 0, 0, 1]


async def test_an_attempt_refused_for_its_address_is_not_counted_against_the_account(
    tmp_path: Path, clock: Clock
) -> None:
    """Over its address's login budget an attempt is refused before the account's count:
    one client's flood does not lengthen the backoff of the accounts it names."""
    limits = _limits(
        tmp_path, login_per_ip="2/minute", login_failures_before_backoff=2, login_backoff_max_seconds=100
    )
    assert [await _attempt(limits, "dave") for _ in range(3)] == [0, 0, TO_NEXT_MINUTE]
    # from elsewhere: dave's third attempt (not his fourth) takes the first, 1 s, slot
    assert [await _attempt(limits, "dave", "10.22.0.1"), await _attempt(limits, "dave", "10.22.0.2")] == [
        0,
        1,
    ]


LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) "
    "{ __typename ... on TooManyAttempts { retryAfterSeconds message } } }"
)


async def test_through_the_api_a_successful_login_clears_the_backoff(tmp_path: Path, clock: Clock) -> None:
    """The login mutation asks before checking the password and clears the account's count
    after a success: a refusal is TooManyAttempts with Retry-After, even for the right
    password; once let through, the right password logs in and the free failures are free
    again."""
    rates = {"login_per_ip": ROOMY, "login_failures_before_backoff": 2, "login_backoff_max_seconds": 100}
    async with running_app(make_settings(tmp_path, rate_limit=rates)) as (_, http):

        async def login(password: str) -> tuple[dict[str, Any], str | None]:
            answer = await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"u": "Grace", "p": password}}
            )
            return answer.json()["data"]["login"], answer.headers.get("retry-after")

        registered = await http.post(
            "/graphql",
            json={"query": 'mutation { register(username: "grace", password: "Zq7-Kp2!x") { __typename } }'},
        )
        assert registered.json()["data"]["register"]["__typename"] == "AuthPayload"
        failed = ({"__typename": "InvalidCredentials"}, None)
        assert [await login("wrong-horse") for _ in range(3)] == [failed] * 3  # the third took a slot
        held = {
            "__typename": "TooManyAttempts",
            "retryAfterSeconds": 1,
            "message": "Too many attempts: try again in 1 s.",
        }
        assert await login("Zq7-Kp2!x") == (held, "1")
        clock.advance(1)
        assert (await login("Zq7-Kp2!x"))[0] == {"__typename": "AuthPayload"}
        assert [await login("wrong-horse") for _ in range(3)] == [failed] * 3
        assert await login("Zq7-Kp2!x") == (held, "1")


# --- each budget on its own ---


async def test_the_budgets_of_one_address_are_counted_apart(tmp_path: Path, clock: Clock) -> None:
    """Requests, logins, registrations and new documents: the same rate for each, and
    spending one to the last leaves the others whole (their counters are kept apart)."""
    limits = _limits(
        tmp_path,
        per_ip="2/minute",
        per_user="2/minute",
        login_per_ip="2/minute",
        register_per_ip="2/minute",
        new_query_bytes_per_ip="2/minute",
    )

    async def logins() -> list[int]:
        return [await _attempt(limits, f"user{i}") for i in range(3)]

    async def registrations() -> list[int]:
        return [(await limits.register_attempt(address=ADDRESS)).retry_after_seconds for _ in range(3)]

    async def requests() -> list[int]:
        return [(await limits.operation(user=None, address=ADDRESS)).retry_after_seconds for _ in range(3)]

    async def documents() -> list[int]:
        return [limits.new_query(address=ADDRESS, size=1).retry_after_seconds for _ in range(3)]

    spent = [0, 0, TO_NEXT_MINUTE]
    assert await logins() == spent
    assert await registrations() == spent
    assert await requests() == spent
    assert await documents() == spent
    # a user's budget is apart from their address's (spent above) and follows them anywhere
    user = [(await limits.operation(user="42", address=f"10.23.0.{i}")).retry_after_seconds for i in range(3)]
    assert user == spent
    # and nothing of another address was spent
    assert (await limits.operation(user=None, address="10.23.1.1")).allowed
    assert (await limits.register_attempt(address="10.23.1.1")).allowed
    assert await _attempt(limits, "user0", "10.23.1.1") == 0


async def test_a_new_document_spends_its_size_in_bytes(tmp_path: Path, clock: Clock) -> None:
    limits = _limits(tmp_path, new_query_bytes_per_ip="100/minute")
    assert [limits.new_query(address=ADDRESS, size=size).retry_after_seconds for size in (60, 40, 1)] == [
        0,
        0,  # exactly the budget
        TO_NEXT_MINUTE,
    ]
    assert limits.new_query(address="10.24.0.1", size=100).allowed  # another address: its own
    assert not limits.new_query(address="10.24.0.1", size=1).allowed
    clock.advance(TO_NEXT_MINUTE + 60)  # a whole window later the sliding count has emptied
    assert limits.new_query(address=ADDRESS, size=100).allowed


async def test_an_empty_document_still_costs_a_byte(tmp_path: Path, clock: Clock) -> None:
    limits = _limits(tmp_path, new_query_bytes_per_ip="3/minute")
    assert [limits.new_query(address=ADDRESS, size=size).allowed for size in (0, 1, 0, 0)] == [
        True,
        True,
        True,
        False,
    ]


# --- the answers ---


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _through(middleware: RateLimitMiddleware, kind: str) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    # before the platform is open the app has no runtime: only the address's budget counts
    scope = {
        "type": kind,
        "path": "/graphql",
        "headers": [],
        "client": (ADDRESS, 5000),
        "app": SimpleNamespace(state=SimpleNamespace()),
    }
    await middleware(scope, _nothing, send)
    return sent


async def test_a_refused_request_is_a_complete_asgi_answer(tmp_path: Path, clock: Clock) -> None:
    """As ASGI sends it, before any client library reads it: lowercase header names (the
    ASGI spec's rule), JSON, the Retry-After in whole seconds, and a Content-Length that is
    the body's; a refused websocket handshake is closed with 1013 (try again later)."""
    middleware = RateLimitMiddleware(_ok, limits=_limits(tmp_path, per_ip="1/minute"))
    assert [m["type"] for m in await _through(middleware, "http")] == [
        "http.response.start",
        "http.response.body",
    ]
    start, body = await _through(middleware, "http")
    payload = {
        "errors": [
            {
                "message": f"Too many requests: try again in {TO_NEXT_MINUTE} s.",
                "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": TO_NEXT_MINUTE},
            }
        ]
    }
    assert json.loads(body["body"]) == payload
    assert start == {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", b"application/json"),
            (b"retry-after", str(TO_NEXT_MINUTE).encode()),
            (b"content-length", str(len(body["body"])).encode()),
        ],
    }
    assert await _through(middleware, "websocket") == [
        {"type": "websocket.close", "code": 1013, "reason": "rate limited"}
    ]


# --- without the counters' store ---


def _unreachable(tmp_path: Path) -> RateLimits:
    gone = {
        "stores": {"cache": "redis", "bus": "redis"},
        "redis": {"url": f"redis://127.0.0.1:{free_port()}/0"},
    }
    return RateLimits(make_settings(tmp_path, **gone))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The rate limits' warnings, each checked to carry the store's error as its argument."""
    found = []
    for record in caplog.records:
        if record.name == "api.rate_limit" and record.levelno == logging.WARNING:
            (error,) = record.args  # type: ignore[misc]
            assert isinstance(error, StorageError), record.args
            prefix = record.getMessage().removesuffix(str(error))
            assert prefix + str(error) == record.getMessage()
            found.append(prefix)
    return found


async def test_without_the_store_every_budget_lets_through_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The limits protect the stores; they must not take the API down with Redis. Each check
    lets its request through, and an operator is told, with the store's error, which
    protection is off."""
    limits = _unreachable(tmp_path)
    with caplog.at_level(logging.WARNING, logger="api.rate_limit"):
        assert (await limits.operation(user="42", address=ADDRESS)).allowed
        assert (await limits.register_attempt(address=ADDRESS)).allowed
    assert _warnings(caplog) == ["rate limits unavailable, letting requests through: "] * 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="api.rate_limit"):
        assert await _attempt(limits, "erin") == 0
    assert _warnings(caplog) == [
        "rate limits unavailable, letting requests through: ",  # the address's login budget
        "login backoff unavailable, letting the attempt through: ",
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="api.rate_limit"):
        await limits.login_succeeded(account="erin")
    assert _warnings(caplog) == ["login backoff unavailable: "]


async def test_the_budgets_reach_redis_over_tls_with_the_auth_token_under_a_prefix(tmp_path: Path) -> None:
    """As ElastiCache is configured (TLS, an auth token), against a server that speaks only
    TLS and wants the token: the budgets count there (so the third request is refused, not
    let through as when the store cannot be reached), under keys of their own
    (`murmur-rate:`), apart from the cache's in the same Redis, where an operator can find
    or clear them."""
    cert, key = self_signed_certificate(tmp_path)
    tls = ("--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-auth-clients", "no")
    server = PrivateRedis(tmp_path, *tls, "--requirepass", "s3cret-token", tls=True)
    server.start()
    try:
        url = f"{server.url}?ssl_ca_certs={cert}"
        redis = {"url": url, "tls": True, "auth_token": SecretStr("s3cret-token")}
        settings = make_settings(
            tmp_path,
            stores={"cache": "redis", "bus": "redis"},
            redis=redis,
            rate_limit={"per_ip": "2/minute"},
        )
        limits = RateLimits(settings)
        verdicts = [(await limits.operation(user=None, address=ADDRESS)).allowed for _ in range(3)]
        assert verdicts == [True, True, False]
        client = Redis.from_url(
            url.replace("redis://", "rediss://"), password="s3cret-token", decode_responses=True
        )
        try:
            keys = [str(name) for name in await client.keys("*")]
        finally:
            await client.aclose()
        assert keys and all(name.startswith("murmur-rate:") for name in keys), keys
    finally:
        server.stop()
