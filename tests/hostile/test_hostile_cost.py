"""Finding 3: no cost limit. 2.9 KB with no login (20 aliases of followers three deep) ran for
32 s and answered 24.7 MB; on a real graph it is 20 × 100³ nodes."""

from __future__ import annotations

import time

from hostile_server import Served, socket

from tests.hostile.conftest import ServerFactory

THREE_DEEP = "followers(first:100){edges{node{id followers(first:100){edges{node{id followers(first:100){edges{node{id}}}}}}}}}"


def attack(copies: int) -> str:
    return "{" + " ".join(f'a{i}:user(username:"demo"){{{THREE_DEEP}}}' for i in range(copies)) + "}"


def test_the_pentest_query_is_refused_before_it_runs(server: Served) -> None:
    # the pentest's 20 copies are over the token limit now; 5 stay under it and under every
    # other limit, so the cost alone refuses them
    for copies, refusal in ((20, "more than 1000 tokens"), (5, "over the budget of 10000")):
        started = time.monotonic()
        response = server.post(attack(copies))
        took = time.monotonic() - started
        answer = response.json()
        assert answer.get("data") is None, answer
        (error,) = answer["errors"]
        assert refusal in error["message"]
        assert took < 1.0
    error = server.post(attack(5)).json()["errors"][0]
    assert error["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": 5 * 2_070_706, "budget": 10_000}


def test_a_real_page_is_within_the_budget(server: Served) -> None:
    token, _ = server.register("reader")
    page = "{ timeline(first: 100) { edges { cursor node { id body author { username } } } } }"
    assert server.post(page, token=token).json() == {"data": {"timeline": {"edges": []}}}


async def test_answers_are_capped_in_size_over_http_and_websockets(start_server: ServerFactory) -> None:
    """Long posts in a full page pass the cost limit but not the size cap: one error instead."""
    served = start_server({"MURMUR_API__MAX_RESPONSE_BYTES": "65536"})
    token, user_id = served.register("verbose")
    for i in range(60):
        body = f"{i:02d} " + "€" * 497  # 1.5 KB of UTF-8 each: 60 of them pass 64 KiB
        created = served.post(
            "mutation($b: String!) { createPost(body: $b) { __typename } }", token=token, b=body
        )
        assert created.json()["data"]["createPost"]["__typename"] == "PostPayload"
    page = "query($id: ID!) { user(id: $id) { posts(first: 60) { edges { node { body } } } } }"
    small = served.post(page.replace("first: 60", "first: 5"), token=token, id=user_id).json()
    assert len(small["data"]["user"]["posts"]["edges"]) == 5
    big = served.post(page, token=token, id=user_id).json()
    assert big["data"] is None
    assert big["errors"][0]["extensions"] == {"code": "RESPONSE_TOO_LARGE", "maxBytes": 65536}
    async with socket(served.ws_url, token=token) as ws:
        over_socket = await ws.run(page, id=user_id)
    assert over_socket["data"] is None
    assert over_socket["errors"][0]["extensions"]["code"] == "RESPONSE_TOO_LARGE"


async def test_a_float_page_size_is_priced_as_the_int_it_becomes(server: Served) -> None:
    """Review finding: `{"n": 70.0}` was priced at the variable's default (0) while graphql-core
    ran it as 70: 343,000 users resolved for a cost of 6."""
    query = (
        'query($n: Int = 0) { user(username: "demo") { followers(first: $n) { edges { node { '
        "followers(first: $n) { edges { node { followers(first: $n) { edges { node { id } } } } } } } } } } }"
    )
    answer = server.post(query, n=70.0).json()
    assert answer["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED", answer
    async with socket(server.ws_url) as ws:
        refused = await ws.run(query, n=70.0)
    # refused before it runs: an `error` message, as graphql-transport-ws says
    assert refused["refused"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED", refused
