"""Findings 2 and 6: rate limits skipped over the websocket and for a percent-encoded GET;
login not throttled (one socket ran 60 logins in 1.7 s; 320 guesses from one client, no 429)."""

from __future__ import annotations

import math
import time

import httpx
from hostile_server import Served, socket

from tests.hostile.conftest import ServerFactory

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { __typename "
LOGIN += "... on TooManyAttempts { retryAfterSeconds } ... on AuthPayload { token } } }"
PASSWORD = "correct-horse-battery"


async def test_every_operation_on_a_socket_counts(start_server: ServerFactory) -> None:
    """60 logins on one socket under 10 requests a minute: the socket handshake and nine
    operations pass, the rest are refused without running, even the right password."""
    served = start_server({"MURMUR_RATE_LIMIT__PER_IP": "10/minute"})
    served.register("victim", PASSWORD)  # one request of the ten
    outcomes = []
    async with socket(served.ws_url) as ws:  # the handshake: another
        for attempt in range(60):
            password = PASSWORD if attempt == 59 else f"guess-{attempt}"
            outcomes.append(await ws.run(LOGIN, u="victim", p=password))
    refused = [o for o in outcomes if "refused" in o]
    assert len(outcomes) - len(refused) == 8
    assert all(o["refused"][0]["extensions"]["code"] == "RATE_LIMITED" for o in refused)
    assert refused[0]["refused"][0]["extensions"]["retryAfterSeconds"] >= 1
    assert "refused" in outcomes[-1]  # the 60th would have found the password


def test_one_login_per_document(server: Served) -> None:
    aliases = " ".join(
        f'g{i}: login(username: "victim", password: "guess-{i}") {{ __typename }}' for i in range(20)
    )
    answer = server.post(f"mutation {{ {aliases} }}").json()
    assert answer["errors"][0]["message"] == "At most one login or register per request."
    assert "data" not in answer or answer["data"] is None


def test_failed_logins_to_one_account_back_off(start_server: ServerFactory) -> None:
    served = start_server({"MURMUR_RATE_LIMIT__LOGIN_PER_IP": "1000/minute"})
    served.register("target", PASSWORD)
    kinds = []
    retry_after = []
    started = time.monotonic()
    for attempt in range(10):
        response = served.post(LOGIN, u="target", p=f"wrong-{attempt}")
        kinds.append(response.json()["data"]["login"]["__typename"])
        retry_after.append(response.headers.get("retry-after"))
    elapsed = time.monotonic() - started
    # five free failures; past them each attempt needs a backoff slot of 1 s, 2 s, 4 s ...,
    # so within `elapsed` seconds only the slots that could have ended let one through
    assert kinds[:6] == ["InvalidCredentials"] * 6
    checked = kinds.count("InvalidCredentials") - 5
    assert 1 <= checked <= 1 + math.floor(math.log2(elapsed + 1)), (kinds, elapsed)
    refused = [i for i, kind in enumerate(kinds) if kind == "TooManyAttempts"]
    assert refused and all(int(retry_after[i] or 0) >= 1 for i in refused)
    # while it backs off, even the right password is not checked
    blocked = served.post(LOGIN, u="TARGET", p=PASSWORD).json()["data"]["login"]
    assert blocked["__typename"] == "TooManyAttempts" and blocked["retryAfterSeconds"] >= 1


def test_logins_and_registrations_per_address(start_server: ServerFactory) -> None:
    served = start_server(
        {"MURMUR_RATE_LIMIT__LOGIN_PER_IP": "5/minute", "MURMUR_RATE_LIMIT__REGISTER_PER_IP": "3/hour"}
    )
    # a password sprayed across accounts: the address runs out, whichever account it tries
    kinds = [
        served.post(LOGIN, u=f"someone{i}", p=PASSWORD).json()["data"]["login"]["__typename"]
        for i in range(7)
    ]
    assert kinds == ["InvalidCredentials"] * 5 + ["TooManyAttempts"] * 2
    register = (
        'mutation($u: String!) { register(username: $u, password: "correct-horse-battery") { __typename } }'
    )
    kinds = [served.post(register, u=f"new{i}").json()["data"]["register"]["__typename"] for i in range(4)]
    assert kinds == ["AuthPayload"] * 3 + ["TooManyAttempts"]


def test_a_percent_encoded_get_counts(start_server: ServerFactory) -> None:
    served = start_server({"MURMUR_RATE_LIMIT__PER_IP": "3/minute"})
    with httpx.Client(timeout=10) as client:
        for _ in range(2):  # /readyz at start-up is not /graphql: these are the first
            assert client.get(served.url, params={"query": "{ __typename }"}).status_code == 200
        assert client.get(served.url + "?%71uery=%7B__typename%7D").status_code == 200
        refused = client.get(served.url + "?%71uery=%7B__typename%7D")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # the GraphiQL page counts too: it is a request to /graphql like any other
        assert client.get(served.url, headers={"accept": "text/html"}).status_code == 429


def test_new_documents_spend_a_budget_of_their_own(start_server: ServerFactory) -> None:
    """Review: distinct documents near the limits (about 45 ms of validation each) at 9 a
    second from one client slowed everyone's answers to 0.6-0.9 s. A document the server has
    not validated before now spends its bytes from the client's budget; one it knows is free."""
    served = start_server({"MURMUR_RATE_LIMIT__NEW_QUERY_BYTES_PER_IP": "3000/minute"})

    def document(n: int) -> str:  # about 900 bytes, each one new
        return "{ " + " ".join(f"f{n}_{i}: __typename" for i in range(20)) + " " + " " * 600 + "}"

    answers = [served.post(document(n)) for n in range(4)]
    assert [a.json().get("errors") is None for a in answers] == [True, True, True, False]
    refused = answers[-1]
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert served.post(document(0)).json().get("errors") is None  # known: costs nothing
