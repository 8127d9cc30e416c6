"""Finding 1: a 788-byte fragment bomb, with no login, froze the server while it validated.
And a fuzz run of the worst documents we can write, grown to the limits."""

from __future__ import annotations

import threading
import time

import httpx
from hostile_server import Served

from bench.hostile_documents import FAMILIES, random_documents
from murmur.settings import ApiSettings

# the pentest's document: 22 fragments, each spreading the next one twice (788 bytes)
BOMB = (
    'query{user(username:"demo"){...F0}} '
    + " ".join(f"fragment F{i} on User{{...F{i + 1} ...F{i + 1}}}" for i in range(21))
    + " fragment F21 on User{id}"
)


def _bomb_while_polling_health(served: Served) -> tuple[httpx.Response, float, float]:
    """Send the bomb from a thread and poll /healthz until it is answered: the bomb's
    answer, how long it took, and the slowest /healthz meanwhile."""
    answer: list[httpx.Response] = []
    sent = time.monotonic()
    thread = threading.Thread(target=lambda: answer.append(served.post(BOMB)), daemon=True)
    thread.start()
    slowest = 0.0
    with httpx.Client(timeout=30) as client:
        while thread.is_alive() and time.monotonic() - sent < 30:
            started = time.monotonic()
            assert client.get(served.base("/healthz")).status_code == 200
            slowest = max(slowest, time.monotonic() - started)
    thread.join(timeout=30)
    assert answer, "the bomb was not answered within 30 s"
    return answer[0], time.monotonic() - sent, slowest


def test_the_fragment_bomb_is_refused_at_once_and_health_stays_fast(server: Served) -> None:
    assert len(BOMB.encode()) == 788
    response, took, slowest_health = _bomb_while_polling_health(server)
    errors = response.json()["errors"]
    assert "once its fragments are expanded" in errors[0]["message"]
    assert took < 1.0, f"the bomb took {took:.2f} s"
    assert slowest_health < 0.1, f"/healthz took {slowest_health:.3f} s meanwhile"


def test_the_fragment_bomb_in_production(production_server: Served) -> None:
    response, took, slowest_health = _bomb_while_polling_health(production_server)
    assert "errors" in response.json()
    assert took < 1.0 and slowest_health < 0.1, (took, slowest_health)


def test_documents_at_the_limits_get_answers_and_the_server_stays_up(server: Served) -> None:
    """Every family of hostile documents, at its largest, and random ones near the token
    limit: each gets a GraphQL answer (data or errors, never a 500 or a dropped
    connection), and the server answers /healthz after each."""
    limits = ApiSettings()
    documents = [family.largest(limits) for family in FAMILIES]
    documents += list(random_documents(limits, seed=1607, count=25))
    token, _ = server.register("fuzzer")
    with httpx.Client(timeout=30) as client:
        for document in documents:
            response = client.post(
                server.url, json={"query": document}, headers={"authorization": f"Bearer {token}"}
            )
            assert response.status_code in (200, 400), (response.status_code, document[:200])
            answer = response.json()
            assert "data" in answer or answer.get("errors"), document[:200]
            for error in answer.get("errors", []):
                assert error["message"] != "Unexpected error.", document[:200]
            assert client.get(server.base("/healthz")).status_code == 200
    assert server.alive()
