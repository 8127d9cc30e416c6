"""Finding 4: a token that expired kept working on an open websocket (ADDED events, `{viewer}`
and createPost 3 s after expiry); tokens could not be revoked. And finding 8's websocket half:
sockets that never logged in stayed open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from hostile_server import Served, serve, socket

from tests.hostile.conftest import ServerFactory
from tests.servers._process import free_port

EVENTS = "subscription { timelineEvents { kind postId } }"
CREATE = "mutation($b: String!) { createPost(body: $b) { __typename ... on Error { message } } }"
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { __typename } }"
LOG_OUT = "mutation { logOutEverywhere { __typename ... on AuthPayload { token } } }"


async def test_a_socket_closes_when_its_token_expires(start_server: ServerFactory) -> None:
    served = start_server({"MURMUR_AUTH__TOKEN_TTL_SECONDS": "3"})
    token, _ = served.register("shortlived")
    opened = time.monotonic()
    async with socket(served.ws_url, token=token) as ws:
        await ws.subscribe(EVENTS)
        assert (await ws.run("{ viewer { username } }"))["data"] == {"viewer": {"username": "shortlived"}}
        code, reason = await ws.closed(within=10)
    closed_after = time.monotonic() - opened
    assert code == 4401 and reason is not None and "expired" in reason
    assert 1.5 < closed_after < 6, closed_after  # at expiry (the token's exp is whole seconds)


async def test_logging_out_everywhere_revokes_tokens_on_http_and_open_sockets(server: Served) -> None:
    token, _ = server.register("revoker")
    author_token, author_id = server.register("chatty")
    assert (
        server.post(FOLLOW, token=token, id=author_id).json()["data"]["follow"]["__typename"]
        == "FollowPayload"
    )
    login = 'mutation { login(username: "revoker", password: "correct-horse-battery") { ... on AuthPayload { token } } }'
    second = server.post(login).json()["data"]["login"]["token"]

    async with socket(server.ws_url, token=token) as listening, socket(server.ws_url, token=second) as idle:
        await listening.subscribe(EVENTS)
        fresh = server.post(LOG_OUT, token=second).json()["data"]["logOutEverywhere"]
        assert fresh["__typename"] == "AuthPayload"

        # HTTP: both old tokens are refused, with why; the new one works
        refused = server.post(CREATE, token=token, b="after logout").json()["data"]["createPost"]
        assert refused == {
            "__typename": "InvalidToken",
            "message": "Your token was revoked (logged out everywhere): log in again.",
        }
        assert server.post("{ viewer { id } }", token=second).json()["data"] == {"viewer": None}
        assert server.post("{ viewer { username } }", token=fresh["token"]).json()["data"] == {
            "viewer": {"username": "revoker"}
        }

        # a socket is closed at its next operation ...
        await idle.subscribe("{ viewer { id } }")
        assert (await idle.closed(within=10))[0] == 4401
        # ... or its next event
        server.post(CREATE, token=author_token, b="an event for a revoked listener")
        code, reason = await listening.closed(within=15)
        assert code == 4401 and reason is not None and "revoked" in reason


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server that gives sockets one second to initialise, and anonymous ones one second idle."""
    served = serve(
        tmp_path_factory.mktemp("impatient"),
        port=free_port(),
        env={"MURMUR_API__WS_INIT_TIMEOUT_SECONDS": "1", "MURMUR_API__WS_ANONYMOUS_IDLE_SECONDS": "1"},
    )
    yield served
    served.stop()


async def test_sockets_that_do_not_log_in_are_closed(impatient: Served) -> None:
    token, _ = impatient.register("patient")
    async with socket(impatient.ws_url, token=token) as logged_in:
        async with asyncio.TaskGroup() as group:
            silent = [group.create_task(_close_of(impatient, init=False)) for _ in range(10)]
            anonymous = [group.create_task(_close_of(impatient, init=True)) for _ in range(10)]
        assert {task.result()[0] for task in silent} == {4408}  # no connection_init in time
        assert {task.result()[0] for task in anonymous} == {4401}  # no token, idle
        assert all(task.result()[1] < 5 for task in [*silent, *anonymous])
        # a logged-in socket is not idle-closed
        assert (await logged_in.run("{ viewer { username } }"))["data"] == {"viewer": {"username": "patient"}}


async def test_an_anonymous_socket_may_run_queries_while_busy(impatient: Served) -> None:
    async with socket(impatient.ws_url) as anonymous:
        for _ in range(3):  # each answer comes well within the idle second
            assert (await anonymous.run("{ __typename }"))["data"] == {"__typename": "Query"}
        assert (await anonymous.closed(within=5))[0] == 4401


async def _close_of(served: Served, *, init: bool) -> tuple[int | None, float]:
    started = time.monotonic()
    async with socket(served.ws_url, init=init) as ws:
        code, _ = await ws.closed(within=10)
    return code, time.monotonic() - started
