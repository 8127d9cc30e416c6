"""The operator against kmock's Kubernetes emulator and moto's SQS, in this process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
import pytest
from aiobotocore.session import get_session

from devstack.kube import EmulatedCluster, emulated_cluster
from tests.servers.servers import MotoServer


@pytest.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatedCluster]:
    async with emulated_cluster(tmp_path) as emulated:
        monkeypatch.setenv("KUBECONFIG", str(emulated.kubeconfig))
        yield emulated


@dataclass
class Lanes:
    """Two FIFO queues, as the workers' express and bulk lanes."""

    names: list[str]
    urls: list[str]
    moto: MotoServer

    async def send(self, count: int, *, lane: int = 0) -> None:
        async with _sqs(self.moto) as sqs:
            for i in range(count):
                await sqs.send_message(
                    QueueUrl=self.urls[lane],
                    MessageBody=f"m{i}",
                    MessageGroupId=f"g{i}",
                    MessageDeduplicationId=uuid.uuid4().hex,
                )

    async def drain(self) -> int:
        taken = 0
        async with _sqs(self.moto) as sqs:
            for url in self.urls:
                while True:
                    got = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                    messages = got.get("Messages", [])
                    if not messages:
                        break
                    for m in messages:
                        await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    taken += len(messages)
        return taken


def _sqs(moto: MotoServer) -> Any:
    return get_session().create_client("sqs", **moto.client_kwargs())


@pytest.fixture
async def lanes(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Lanes:
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    run = uuid.uuid4().hex[:10]
    names = [f"operator-express-{run}.fifo", f"operator-bulk-{run}.fifo"]
    urls = []
    async with _sqs(moto_server) as sqs:
        for name in names:
            made = await sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})
            urls.append(made["QueueUrl"])
    return Lanes(names, urls, moto_server)


@contextlib.asynccontextmanager
async def running_operator() -> AsyncIterator[None]:
    """The real operator (murmur_operator's handlers), in this event loop."""
    import murmur_operator  # noqa: F401  (registers the handlers)

    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        kopf.operator(namespaces=["murmur"], standalone=True, clusterwide=False, stop_flag=stop)
    )
    try:
        yield
    finally:
        stop.set_result(None)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=15)


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout: float, what: str) -> float:  # noqa: ASYNC109  (a polling deadline, not a cancellation)
    """Seconds until check() holds; fails with `what` after timeout."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return loop.time() - started
        if loop.time() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def serving_metrics(text: str) -> AsyncIterator[int]:
    """A stand-in worker's /metrics on a loopback port (the port is yielded)."""
    from aiohttp import web

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
