"""Findings 10 and 11. 10: the SQLite file (password hashes) was 0644 in a 0755 folder and the
dev secret was written, then chmod'ed; /graphql answers had no nosniff, no no-store (token
answers included), no HSTS behind TLS; production took 32 x "a" as its JWT secret; GraphiQL
kept the bearer token in localStorage. 11: /readyz named the store classes, /metrics listened
on the API's address, and a cursor the store refused came back without a code."""

from __future__ import annotations

import os
import re
import socket
import stat
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hostile_server import FAST_HASHING, Served

from api.relay import encode_cursor
from devstack.cloud import MURMUR, answers_ready, inherited_env, new_jwt_secret
from tests.hostile.conftest import ServerFactory
from tests.servers._process import free_port, log_tail, spawn

HSTS = "max-age=31536000; includeSubDomains"
REGISTER = (
    'mutation { register(username: "headers", password: "correct-horse-battery") '
    "{ __typename ... on AuthPayload { token } } }"
)


def graphql_headers(answer: httpx.Response) -> tuple[list[str], list[str]]:
    return answer.headers.get_list("x-content-type-options"), answer.headers.get_list("cache-control")


# --- finding 10: headers -------------------------------------------------------------------------


def test_graphql_answers_are_nosniff_and_never_stored(server: Served) -> None:
    token_answer = httpx.post(server.url, json={"query": REGISTER}, timeout=30)
    assert '"token"' in token_answer.text
    too_big = httpx.post(server.url, content=b"x" * (1 << 20), timeout=30)  # over the 64 KiB limit
    assert too_big.status_code == 413
    for answer in (token_answer, too_big, httpx.get(server.url, params={"query": "{ __typename }"})):
        assert graphql_headers(answer) == (["nosniff"], ["no-store"]), (answer.status_code, answer.headers)
        assert "strict-transport-security" not in answer.headers  # plain HTTP here: no HSTS


def test_behind_tls_every_answer_carries_hsts(start_server: ServerFactory) -> None:
    served = start_server({"MURMUR_API__BEHIND_TLS": "true"})
    for answer in (
        httpx.post(served.url, json={"query": "{ __typename }"}, timeout=30),
        httpx.get(served.base("/healthz"), timeout=30),
        httpx.get(served.base("/graphql"), headers={"accept": "text/html"}, timeout=30),  # GraphiQL
    ):
        assert answer.headers.get_list("strict-transport-security") == [HSTS], answer.url


def test_the_graphiql_page_keeps_its_policy_and_stores_no_headers(server: Served) -> None:
    page = httpx.get(server.url, headers={"accept": "text/html"}, timeout=30)
    assert "default-src 'none'" in page.headers["content-security-policy"]
    script = httpx.get(server.base("/graphiql/murmur-graphiql.js"), timeout=30).text
    assert "shouldPersistHeaders: false" in script and "storage: storage" in script


# --- finding 10: files ---------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_and_its_files_are_private(start_server: ServerFactory) -> None:
    """Under the usual umask (0644 files, 0755 folders) the running server's data is its own."""
    old = os.umask(0o022)
    try:
        served = start_server()
    finally:
        os.umask(old)
    served.register("someone")  # a write: the -wal file is in use
    files = {p.name: mode(p) for p in served.data_dir.iterdir()}
    assert mode(served.data_dir) == 0o700
    private = ("murmur.db", "murmur.db-wal", "murmur.db-shm", "dev-jwt-secret", "api.lock")
    assert files == {n: 0o600 for n in private}


# --- finding 10: a guessable secret --------------------------------------------------------------


def murmur_env(**variables: str) -> dict[str, str]:
    env = {**inherited_env(keep_murmur=False), **FAST_HASHING, **variables}
    if code := os.environ.get("HOSTILE_SERVER_CODE"):  # as hostile_server: an older checkout's code
        env["PYTHONPATH"] = code
    return env


@pytest.mark.parametrize(
    ("weak", "where"),
    [
        ("a" * 32, {"MURMUR_ENVIRONMENT": "production"}),
        ("password" * 4, {"MURMUR_ENVIRONMENT": "production"}),
        ("abcd" * 8, {"MURMUR_PROFILE": "cloud"}),
    ],
)
def test_a_guessable_secret_is_refused_in_one_line(tmp_path: Path, weak: str, where: dict[str, str]) -> None:
    port = free_port()
    done = subprocess.run(
        [MURMUR, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=murmur_env(MURMUR_AUTH__JWT_SECRET=weak, **where),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("murmur: invalid configuration: MURMUR_AUTH__JWT_SECRET is too easy to guess")
    assert weak not in done.stderr + done.stdout


# --- finding 11 ----------------------------------------------------------------------------------


def test_readiness_names_roles_never_classes(server: Served) -> None:
    ready = httpx.get(server.base("/readyz"), timeout=30)
    assert ready.status_code == 200
    assert set(ready.json()["stores"]) <= {
        *("users", "posts", "graph", "timelines", "cache", "bus", "queue", "bulk_queue", "ledger"),
    }
    assert not re.search(r"[a-z][A-Z]", ready.text), ready.text  # no CamelCase class name


def test_a_cursor_the_store_refuses_is_a_bad_request(server: Served) -> None:
    _, user_id = server.register("hub")
    forged = encode_cursor("followers", "not-a-graph-cursor", 0)  # parses; the store refuses it
    answer = server.post(
        "query($id: ID!, $after: String) { user(id: $id) { followers(after: $after) { edges { cursor } } } }",
        id=user_id,
        after=forged,
    ).json()
    assert answer["errors"][0]["message"] == "Invalid cursor."
    assert answer["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def listening(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at this port, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(struct.pack("=I", int(address, 16))))
    return found


@contextmanager
def public_production_server(workdir: Path, metrics_port: int) -> Iterator[int]:
    """`murmur serve --host 0.0.0.0` in production (the API public, as in a pod); its port."""
    port = free_port()
    env = murmur_env(
        MURMUR_ENVIRONMENT="production",
        MURMUR_AUTH__JWT_SECRET=new_jwt_secret(),
        MURMUR_SEED__ENABLED="false",
        MURMUR_API__METRICS_PORT=str(metrics_port),
    )
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [MURMUR, "serve", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(workdir / "data")]
    process = spawn("murmur-public", argv, workdir, env=env)
    try:
        deadline = time.monotonic() + 60
        while not answers_ready(port, timeout=2):
            if process.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"murmur serve did not become ready:\n{log_tail(process.log_path)}")
            time.sleep(0.05)
        yield port
    finally:
        process.stop()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_metrics_listen_on_loopback_when_the_api_is_public(tmp_path: Path) -> None:
    metrics_port = free_port()
    with public_production_server(tmp_path, metrics_port) as port:
        assert listening(port) == {"0.0.0.0"}  # the API: every address
        assert listening(metrics_port) == {"127.0.0.1"}  # its metrics: this host only
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30)
        assert scraped.status_code == 200 and "murmur_store_operations_total" in scraped.text
