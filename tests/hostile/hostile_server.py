"""`murmur serve` as a separate process for the hostile-client tests, and a small client."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.cloud import HOST, MURMUR, answers_ready, inherited_env, new_jwt_secret
from tests.servers._process import ServerProcess, log_tail, spawn

READY_SECONDS = 60.0
# cheap password hashing: the suite registers many accounts; the production checks on
# hashing cost are not what it attacks
FAST_HASHING = {"MURMUR_AUTH__HASH_TIME_COST": "1", "MURMUR_AUTH__HASH_MEMORY_KIB": "8"}


@dataclass
class Served:
    process: ServerProcess
    port: int
    data_dir: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/graphql"

    def base(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def log(self, lines: int = 80) -> str:
        return log_tail(self.process.log_path, lines)

    def alive(self) -> bool:
        return self.process.popen.poll() is None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait_or_kill(timeout=15)

    def post(self, query: str, *, token: str | None = None, **variables: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(
            self.url, json={"query": query, "variables": variables}, headers=headers, timeout=30
        )

    def register(self, username: str, password: str = "correct-horse-battery") -> tuple[str, str]:
        """(token, user id) of a new account."""
        answer = self.post(
            "mutation($u: String!, $p: String!) { register(username: $u, password: $p) "
            "{ __typename ... on AuthPayload { token user { id } } ... on Error { message } } }",
            u=username,
            p=password,
        ).json()
        payload = answer["data"]["register"]
        assert payload["__typename"] == "AuthPayload", payload
        return payload["token"], payload["user"]["id"]


def serve(workdir: Path, *, port: int, env: dict[str, str], production: bool = False) -> Served:
    """Start `murmur serve` on `port` with its data in `workdir`, and wait until it is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    full_env = {
        **inherited_env(keep_murmur=False),
        **FAST_HASHING,
        "MURMUR_SEED__ENABLED": "false",
        "MURMUR_WORKERS__WAIT_SECONDS": "0.05",
        **(
            {
                "MURMUR_ENVIRONMENT": "production",
                "MURMUR_AUTH__JWT_SECRET": new_jwt_secret(),
                "MURMUR_API__METRICS_PORT": "0",
            }
            if production
            else {}
        ),
        **env,
    }
    process = spawn(
        "murmur-serve",
        [MURMUR, "serve", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)],
        workdir,
        env=full_env,
    )
    served = Served(process=process, port=port, data_dir=data_dir, env=full_env)
    deadline = time.monotonic() + READY_SECONDS
    while not answers_ready(port, timeout=2):
        if not served.alive() or time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"murmur serve did not become ready:\n{served.log()}")
        time.sleep(0.05)
    return served
