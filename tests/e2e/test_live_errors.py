"""Bad input gets typed errors; hostile or malformed requests get clear refusals, over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from e2e_client import Murmur, unique
from gql.transport.exceptions import TransportQueryError
from live_server import LiveServer

ERROR = "{ __typename ... on Error { message } }"


async def test_typed_errors(server: LiveServer) -> None:
    murmur = Murmur(server)
    token, user_id, username = await murmur.register("typed")
    other, _, _ = await murmur.register("other")
    others_post = await murmur.post(other, "not yours")
    cases = [
        # (mutation, token, variables, expected __typename)
        ("register(username: $u, password: $p)", None, {"u": username, "p": "long-enough"}, "UsernameTaken"),
        (
            "login(username: $u, password: $p)",
            None,
            {"u": username, "p": "wrong-password"},
            "InvalidCredentials",
        ),
        ("createPost(body: $b)", token, {"b": ""}, "InvalidInput"),
        ("createPost(body: $b)", token, {"b": "x" * 501}, "InvalidInput"),
        ("createPost(body: $b)", None, {"b": "anonymous"}, "NotAuthenticated"),
        ("follow(userId: $id)", token, {"id": user_id}, "CannotFollowSelf"),
        ("follow(userId: $id)", token, {"id": "987654321"}, "NotFound"),
        ("deletePost(id: $id)", token, {"id": others_post}, "NotPostAuthor"),
        ("deletePost(id: $id)", None, {"id": others_post}, "NotAuthenticated"),
        ("updateProfile(bio: $b)", None, {"b": "hi"}, "NotAuthenticated"),
    ]
    types = {"u": "String!", "p": "String!", "b": "String!", "id": "ID!"}
    for field, auth, variables, expected in cases:
        declared = ", ".join(f"${name}: {types[name]}" for name in variables)
        data = await murmur.execute(f"mutation({declared}) {{ {field} {ERROR} }}", auth, **variables)
        (payload,) = data.values()
        assert payload["__typename"] == expected, (field, variables)
        assert payload["message"]


def nested_following(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"following {{ edges {{ node {{ {inner} }} }} }}"
    return f"{{ viewer {{ {inner} }} }}"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (nested_following(8), "exceeds maximum operation depth"),
        ("{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(100)) + " }", "aliases found"),
        ("{ " + "__typename " * 3000 + "}", "more than 1000 tokens"),
    ],
    ids=["deep", "alias-bomb", "token-flood"],
)
async def test_hostile_queries_are_refused(server: LiveServer, query: str, message: str) -> None:
    with pytest.raises(TransportQueryError, match=message) as refused:
        await Murmur(server).execute(query)
    assert refused.value.data is None


async def test_introspection_refused_when_disabled(locked_down: LiveServer, server: LiveServer) -> None:
    query = "{ __schema { types { name } } }"
    with pytest.raises(TransportQueryError, match="introspection"):
        await Murmur(locked_down).execute(query)
    assert (await Murmur(server).execute(query))["__schema"]["types"]


def test_graphiql_follows_settings(locked_down: LiveServer, server: LiveServer) -> None:
    html = {"Accept": "text/html"}
    shown = httpx.get(server.url, headers=html)
    assert shown.status_code == 200
    assert "graphiql" in shown.text.lower()
    assert httpx.get(locked_down.url, headers=html).status_code == 404


def test_mutations_over_get_are_refused(server: LiveServer) -> None:
    mutation = (
        f'mutation {{ register(username: "{unique("viaget")}", password: "long-enough") {{ __typename }} }}'
    )
    refused = httpx.get(server.url, params={"query": mutation})
    assert refused.status_code == 400
    assert refused.text == "mutations are not allowed when using GET"
    # queries over GET are fine
    answered = httpx.get(server.url, params={"query": "{ viewer { id } }"})
    assert answered.status_code == 200
    assert answered.json() == {"data": {"viewer": None}}


def test_oversized_body_gets_413(server: LiveServer) -> None:
    limit = server.settings.api.max_body_bytes
    big = {"query": "{ viewer { id } }", "variables": {"pad": "x" * limit}}
    assert httpx.post(server.url, json=big).status_code == 413

    def chunks() -> object:  # no Content-Length: the limit counts what arrives
        yield b'{"query": "{ viewer { id } }", "variables": {"pad": "'
        for _ in range(limit // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    assert (
        httpx.post(server.url, content=chunks(), headers={"Content-Type": "application/json"}).status_code
        == 413
    )
    assert httpx.post(server.url, json={"query": "{ viewer { id } }"}).status_code == 200


def test_batched_queries_are_refused(server: LiveServer) -> None:
    batch = [{"query": "{ viewer { id } }"}, {"query": "{ viewer { id } }"}]
    refused = httpx.post(server.url, json=batch)
    assert (refused.status_code, refused.text) == (400, "Batching is not enabled")


def test_garbage_is_a_client_error(server: LiveServer) -> None:
    for body in (b"not json", b"{}", b'{"query": 42}'):
        response = httpx.post(server.url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, body
