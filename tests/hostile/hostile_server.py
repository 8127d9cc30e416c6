"""`murmur serve` as a separate process for the hostile-client tests, and a small client."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from devstack.cloud import HOST, MURMUR, LoopbackEndpoints, answers_ready, inherited_env, new_jwt_secret
from tests.servers._process import ServerProcess, log_tail, spawn

READY_SECONDS = 60.0
# cheap password hashing: the suite registers many accounts; the production checks on
# hashing cost are not what it attacks
FAST_HASHING = {"MURMUR_AUTH__HASH_TIME_COST": "1", "MURMUR_AUTH__HASH_MEMORY_KIB": "8"}


@dataclass
class Served(LoopbackEndpoints):
    process: ServerProcess
    port: int
    data_dir: Path
    env: dict[str, str]

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


def server_env(env: dict[str, str | None], *, production: bool) -> dict[str, str]:
    """The environment of a `murmur serve` under attack: hermetic, fast hashing, no demo world
    unless asked; `env` overrides (None: unset). HOSTILE_SERVER_CODE, when set, puts another
    checkout's code first on the server's path: run the suite against an older Murmur to see
    each test fail there."""
    full_env: dict[str, str | None] = {
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
    if code := os.environ.get("HOSTILE_SERVER_CODE"):
        full_env["PYTHONPATH"] = code
    return {key: value for key, value in full_env.items() if value is not None}


def serve(workdir: Path, *, port: int, env: dict[str, str | None], production: bool = False) -> Served:
    """Start `murmur serve` on `port` with its data in `workdir`, and wait until it is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    full_env = server_env(env, production=production)
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


class Socket:
    """A raw graphql-transport-ws connection: the protocol's messages, nothing hidden."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, within: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), within)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def subscribe(self, query: str, **variables: Any) -> str:
        self._ids += 1
        operation = str(self._ids)
        await self.send(
            {"id": operation, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        return operation

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        """One query or mutation: its `next` payload, or the `error` message that refused it."""
        operation = await self.subscribe(query, **variables)
        while True:
            message = await self.receive()
            if message.get("id") != operation:
                continue
            if message["type"] == "next":
                payload: dict[str, Any] = message["payload"]
                return payload
            if message["type"] == "error":
                return {"refused": message["payload"]}

    async def run_or_closed(self, query: str, **variables: Any) -> dict[str, Any] | None:
        """`run`, or None when the server closes the socket instead of answering."""
        try:
            return await self.run(query, **variables)
        except ConnectionClosed:
            return None

    async def closed(self, within: float) -> tuple[int | None, str | None]:
        """Wait for the server to close the socket; its close code and reason."""
        try:
            async with asyncio.timeout(within):
                async for _ in self.connection:
                    pass
        except ConnectionClosed:
            pass
        return self.connection.close_code, self.connection.close_reason


@asynccontextmanager
async def socket(url: str, *, token: str | None = None, init: bool = True) -> AsyncIterator[Socket]:
    """A graphql-transport-ws socket, initialised (with the token, if any) and acknowledged."""
    async with connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=10
    ) as connection:
        opened = Socket(connection)
        if init:
            await opened.send(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}}
            )
            assert (await opened.receive())["type"] == "connection_ack"
        yield opened
