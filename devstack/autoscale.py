"""The operator's loop closed on one machine (`make autoscale-demo`, tests/operator).

The cloud stand-ins hold the stores; kmock's emulator is the Kubernetes API; the real
operator (`kopf run -m murmur_operator`) scales an emulated worker Deployment, and
devstack.replicas turns its replicas into real `murmur worker` processes. A celebrity
with `followers` followers posts once; the run ends when every follower's timeline holds
the post and the pool is back at zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sysconfig
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiobotocore.session import get_session

from devstack.cloud import CloudServers, MurmurProcesses, StoreNames, cloud_env, inherited_env, new_jwt_secret
from devstack.kube import (
    AUTOSCALERS,
    DEPLOYMENTS,
    EmulatedCluster,
    autoscaler,
    emulated_cluster,
    worker_deployment,
)
from devstack.replicas import LocalReplicaSet, WorkerRecord
from murmur.domain import IdGenerator, Post, User, UserId, id_key
from murmur.platform import open_platform
from murmur.settings import Settings
from murmur_operator.decision import QueueCounts
from murmur_operator.queues import QueueUnreadable, read_counts
from murmur_operator.spec import QueueRef, SqsSpec
from tests.servers._process import ServerProcess, log_tail, spawn
from tests.servers.servers import MotoServer

KOPF = str(Path(sysconfig.get_path("scripts")) / "kopf")
DEPLOYMENT = "murmur-worker"
PAGE_SIZE = 1_000  # followers a chunk: 100 chunk messages for 100,000 followers
MAX_REPLICAS = 4  # two cores, and moto serves every worker
POLICY = {
    "minReplicas": 0,
    "maxReplicas": MAX_REPLICAS,
    "pollingIntervalSeconds": 2,
    "target": {"messagesPerReplica": 2},
    "scaleDown": {"stabilizationWindowSeconds": 10, "maxStep": 2},
    "scaleToZeroCooldownSeconds": 10,
}


@dataclass
class Tick:
    second: float
    replicas: int
    running: int
    backlog: int | None
    throughput: float | None


@dataclass
class AutoscaleRun:
    followers: int
    post: Post | None = None
    first_worker_after: float | None = None
    drained_after: float | None = None
    asleep_after: float | None = None
    delivered: int = 0
    dead_letters: int = 0
    ticks: list[Tick] = field(default_factory=list)
    workers: list[WorkerRecord] = field(default_factory=list)

    @property
    def peak_replicas(self) -> int:
        return max((t.replicas for t in self.ticks), default=0)


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def _load_celebrity(settings: Settings, followers: int) -> tuple[UserId, Post]:
    """A celebrity and `followers` fans, loaded in bulk; then the celebrity posts (through
    the platform, as the API would: outbox, then the queue)."""
    ids = IdGenerator(node=1000)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    users = [
        User(
            id=UserId(ids.next_id(start + timedelta(seconds=i))),
            username="celebrity" if i == 0 else f"fan_{i}",
            display_name="Celebrity" if i == 0 else f"Fan {i}",
            bio="",
            created_at=start,
        )
        for i in range(followers + 1)
    ]
    celebrity = users[0].id
    async with open_platform(settings, serves_api=False) as platform:
        b = platform.backends
        for at in range(0, len(users), 5_000):
            await b.users.import_users(users=[(u, "!") for u in users[at : at + 5_000]])
        for at in range(1, len(users), 10_000):
            await b.graph.follow_many(pairs=[(u.id, celebrity) for u in users[at : at + 10_000]])
        post = await platform.feed.create_post(author=celebrity, body="Hello, everyone.")
    return celebrity, post


async def _count_deliveries(moto: MotoServer, table: str, post: Post) -> int:
    """Timeline items holding the post, by a full scan (every follower, none sampled)."""
    found = 0
    async with get_session().create_client(
        "dynamodb",
        region_name=moto.region,
        endpoint_url=moto.url,
        aws_access_key_id=moto.access_key_id,
        aws_secret_access_key=moto.secret_access_key,
    ) as dynamodb:
        paginator = dynamodb.get_paginator("scan")
        async for page in paginator.paginate(
            TableName=table,
            FilterExpression="#p = :p",
            ExpressionAttributeNames={"#p": "post"},
            ExpressionAttributeValues={":p": {"N": str(id_key(post.id))}},
            Select="COUNT",
        ):
            found += int(page["Count"])
    return found


@contextlib.asynccontextmanager
async def _operator(
    cluster: EmulatedCluster, env: dict[str, str], workdir: Path
) -> AsyncIterator[ServerProcess]:
    process = spawn(
        "murmur-operator",
        [KOPF, "run", "-m", "murmur_operator", "--standalone", "--namespace", "murmur"],
        workdir,
        env={**env, "KUBECONFIG": str(cluster.kubeconfig)},
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait_or_kill(timeout=15)


async def run_autoscale(
    servers: CloudServers,
    workdir: Path,
    *,
    followers: int,
    say: Callable[[str], None] = print,
    deadline_seconds: float = 600.0,
) -> AutoscaleRun:
    names = StoreNames.unique()
    env = {
        **inherited_env(keep_murmur=False),
        **cloud_env(servers, jwt_secret=new_jwt_secret(), names=names),
        "MURMUR_FANOUT": "push",
        "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": str(PAGE_SIZE),
        "MURMUR_WORKERS__IN_PROCESS": "0",
    }
    say(f"creating the stores ({names.database}) and loading a celebrity with {followers:,} followers")
    MurmurProcesses(env, workdir, port=0).init()
    result = AutoscaleRun(followers=followers)
    with _environment(env):  # this process reads the queues with the same credentials
        return await _run(result, env, names, servers, workdir, say, deadline_seconds)


async def _run(
    result: AutoscaleRun,
    env: dict[str, str],
    names: StoreNames,
    servers: CloudServers,
    workdir: Path,
    say: Callable[[str], None],
    deadline_seconds: float,
) -> AutoscaleRun:
    followers = result.followers
    moto = servers.moto
    sqs = SqsSpec(
        queues=(QueueRef(name=names.fanout_queue), QueueRef(name=names.fanout_bulk_queue)),
        region=moto.region,
        endpoint_url=moto.url,
    )
    async with emulated_cluster(workdir) as cluster:
        cluster.put(DEPLOYMENTS, worker_deployment(DEPLOYMENT))
        queue_names = [names.fanout_queue, names.fanout_bulk_queue]
        cr = autoscaler(
            "workers", DEPLOYMENT, queue_names, endpoint_url=moto.url, region=moto.region, spec=POLICY
        )
        cluster.put(AUTOSCALERS, cr)
        replicas = LocalReplicaSet(cluster, DEPLOYMENT, env, workdir)
        controller = asyncio.create_task(replicas.run(), name="local-replicaset")
        try:
            async with _operator(cluster, env, workdir) as operator:
                _, post = await _load_celebrity(Settings(), followers)
                result.post = post
                started = time.monotonic()
                say(f"posted {post.id}: watching (replicas, backlog, throughput each second)")
                while time.monotonic() - started < deadline_seconds:
                    await asyncio.sleep(1.0)
                    if operator.popen.poll() is not None:
                        raise RuntimeError(f"the operator exited:\n{log_tail(operator.log_path, 60)}")
                    counts = await _counts(sqs)
                    status = (cluster.object(AUTOSCALERS, "workers") or {}).get("status") or {}
                    tick = Tick(
                        second=time.monotonic() - started,
                        replicas=cluster.replicas(DEPLOYMENT),
                        running=len(replicas.running),
                        backlog=None if counts is None else counts.visible + counts.in_flight,
                        throughput=status.get("throughput"),
                    )
                    result.ticks.append(tick)
                    say(
                        f"{tick.second:6.1f} s  replicas {tick.replicas} (running {tick.running})  "
                        f"backlog {tick.backlog}  throughput {tick.throughput or 0:.2f} msg/s"
                    )
                    if result.first_worker_after is None and replicas.workers:
                        result.first_worker_after = replicas.workers[0].started_at - started
                    if result.drained_after is None and replicas.workers and tick.backlog == 0:
                        result.drained_after = tick.second
                    if result.drained_after is not None and tick.replicas == 0 and not replicas.running:
                        result.asleep_after = tick.second
                        break
        finally:
            controller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await controller
            replicas.stop()
        result.workers = replicas.workers
    result.delivered = await _count_deliveries(moto, names.timelines_table, post)
    dead_letter_queue = SqsSpec(
        queues=(QueueRef(name=names.dead_letter_queue),), region=moto.region, endpoint_url=moto.url
    )
    result.dead_letters = (await read_counts(dead_letter_queue)).visible  # the workers are gone: it answers
    return result


async def _counts(sqs: SqsSpec) -> QueueCounts | None:
    """None when moto, busy with the workers, does not answer in time (shown as such)."""
    try:
        return await read_counts(sqs)
    except QueueUnreadable:
        return None


def main() -> None:
    """`make autoscale-demo`: the loop, live, then what it showed."""
    import argparse
    import tempfile

    from devstack.cloud import running_servers

    parser = argparse.ArgumentParser(prog="python -m devstack.autoscale", description=__doc__)
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--deadline", type=float, default=1800.0, help="give up after this many seconds")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="murmur-autoscale-") as workdir,
        running_servers(print) as servers,
    ):
        run = asyncio.run(
            run_autoscale(servers, Path(workdir), followers=args.followers, deadline_seconds=args.deadline)
        )
    print(summary(run))


def summary(run: AutoscaleRun) -> str:
    totals = {
        k: sum(w.summary.get(k, 0) for w in run.workers)
        for k in ("done", "released", "redelivered", "cut_off")
    }
    return "\n".join(
        [
            f"first worker {run.first_worker_after or float('nan'):.1f} s after the post; "
            f"backlog drained at {run.drained_after or float('nan'):.1f} s; pool at zero at {run.asleep_after or float('nan'):.1f} s",
            f"peak replicas {run.peak_replicas}; {len(run.workers)} worker processes started, "
            f"exit codes {sorted({w.exit_code for w in run.workers}, key=str)}",
            f"timelines holding the post: {run.delivered:,} of {run.followers:,}; dead letters {run.dead_letters}",
            "messages: " + ", ".join(f"{k} {v}" for k, v in totals.items()),
        ]
    )


if __name__ == "__main__":
    main()
