"""Clients at work while the cloud stack seeds its demo world: the seeding and the clients
share the graph stand-in (FalkorDB over Bolt), MongoDB, DynamoDB and SQS. Every client
scenario passes during the seeding, and the seeding finishes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_client import Murmur, eventually

from devstack.cloud import MurmurProcesses
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer
from tests.servers._process import free_port
from tests.support.cloud import cloud_stack_env

SEED_USERS = 40
CLIENTS = 4
CONVERGE_SECONDS = 60.0


@pytest.fixture
def seeding(
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
    tmp_path: Path,
) -> Iterator[MurmurProcesses]:
    env = {
        **cloud_stack_env(redis_server, moto_server, mongo_server, bolt_server),
        "MURMUR_SEED__USERS": str(SEED_USERS),
        "MURMUR_AUTH__HASH_TIME_COST": "1",
        "MURMUR_AUTH__HASH_MEMORY_KIB": "8",
    }
    processes = MurmurProcesses(env, tmp_path, port=free_port())
    processes.init()
    try:
        processes.start()
        deadline = time.monotonic() + 60
        while not _answers(processes.base("/healthz")):
            processes.check_alive()
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.1)
        yield processes
    finally:
        processes.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _scenario(murmur: Murmur, n: int) -> None:
    reader, _, _ = await murmur.register(f"early_reader{n}")
    writer, writer_id, _ = await murmur.register(f"early_writer{n}")
    await murmur.follow(reader, writer_id)
    await murmur.post(writer, f"while seeding {n}")
    bodies = await eventually(
        lambda: murmur.timeline(reader), lambda b: b == [f"while seeding {n}"], CONVERGE_SECONDS
    )
    assert bodies == [f"while seeding {n}"]
    counts = await murmur.execute("query($id: ID!) { user(id: $id) { followerCount } }", reader, id=writer_id)
    assert counts == {"user": {"followerCount": 1}}


async def test_clients_and_seeding_at_once(seeding: MurmurProcesses) -> None:
    murmur = Murmur(seeding)  # type: ignore[arg-type]  # any server with url and ws_url will do
    with seeding.logs_on_failure():
        ready = (await asyncio.to_thread(httpx.get, seeding.base("/readyz"), timeout=5)).json()
        assert ready["seed"] == "running"  # the clients below really run during the seeding
        await asyncio.gather(*(_scenario(murmur, n) for n in range(CLIENTS)))

        async def seed_state() -> str:
            answer = await asyncio.to_thread(httpx.get, seeding.base("/readyz"), timeout=5)
            return str(answer.json()["seed"])

        assert await eventually(seed_state, lambda s: s != "running", 300) == "done"
        assert (await asyncio.to_thread(httpx.get, seeding.base("/readyz"), timeout=5)).status_code == 200
