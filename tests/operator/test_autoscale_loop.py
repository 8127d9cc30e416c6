"""The loop closed on one machine: the real operator (a `kopf run` process) scales an
emulated Deployment whose replicas are real `murmur worker` processes, on the cloud
stand-ins, while a celebrity's post fans out to every follower.

100,000 followers is `make autoscale-demo`'s run (minutes on moto: each delivery is a
few DynamoDB requests); the suite runs the same loop with 10,000 (10 chunk messages: still 5 replicas wanted, 4 allowed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.autoscale import MAX_REPLICAS, run_autoscale, summary
from devstack.cloud import CloudServers
from tests.servers.servers import BoltServer, MongoServer, MotoServer, RedisServer

pytestmark = pytest.mark.backend
FOLLOWERS = 10_000


@pytest.mark.timeout(600)
async def test_workers_scale_up_drain_the_backlog_and_scale_down_losing_nothing(
    tmp_path: Path,
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
) -> None:
    servers = CloudServers(redis=redis_server, moto=moto_server, mongo=mongo_server, bolt=bolt_server)
    run = await run_autoscale(
        servers, tmp_path, followers=FOLLOWERS, say=lambda _: None, deadline_seconds=420
    )
    print(summary(run))
    # the pool woke from zero within 10 s of the backlog, grew, drained it and slept again
    assert run.first_worker_after is not None and run.first_worker_after <= 10.0
    assert run.peak_replicas == MAX_REPLICAS
    assert run.drained_after is not None and run.asleep_after is not None
    # every follower (and the author) holds the post: nothing lost
    assert run.delivered == FOLLOWERS + 1
    assert run.dead_letters == 0
    # every worker drained and exited 0 on SIGTERM; none was cut off mid-message, and the
    # only messages seen twice are ones a stopping worker released unstarted
    assert run.workers and all(w.exit_code == 0 for w in run.workers)
    assert all(w.summary for w in run.workers), "every worker wrote its last line"
    totals = {
        k: sum(w.summary.get(k, 0) for w in run.workers)
        for k in ("done", "released", "redelivered", "cut_off")
    }
    assert totals["cut_off"] == 0
    assert totals["redelivered"] <= totals["released"]
    assert totals["done"] == 1 + FOLLOWERS // 1_000  # the post's message, then its chunks, once each
    # the ReplicaSet removed only pods the operator had marked idle (cost 0)
    assert all(w.cost_when_removed in (None, "0") for w in run.workers)
