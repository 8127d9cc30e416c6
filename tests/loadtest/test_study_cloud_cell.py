"""One study cell on the cloud profile's stand-ins: stores of its own loaded through the bulk
methods, an API and a worker process, /metrics summed over both."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.cloud import CloudServers
from loadtest.experiment import Cell, Costs, StudyPlan, Templates, run_cell
from murmur.settings import Strategy
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer


@pytest.mark.backend
async def test_a_push_cell_runs_on_the_stand_ins(
    tmp_path: Path,
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
) -> None:
    servers = CloudServers(redis=redis_server, moto=moto_server, mongo=mongo_server, bolt=bolt_server)
    plan = StudyPlan(
        out=tmp_path,
        sizes=(80,),
        active_scale=0.05,
        time_scale=2 / 1500,
        warmup_seconds=2.0,
        think_seconds=0.3,
        history_days=1.0,
    )
    said: list[str] = []
    result = await run_cell(
        plan, Cell(Strategy.PUSH, 80, cache=True), Templates(tmp_path / "t"), Costs(), said.append, servers
    )

    assert result["failures"] == 0, result["failure_samples"]
    assert result["requests"]["homeTimeline"]["count"] > 0
    operations = result["store_operations"]
    # the API's reads and the worker's fan-out writes: both processes were scraped
    assert any(key.startswith("timelines.timeline") for key in operations)
    assert any(key.startswith("timelines.add_to_timelines") for key in operations), operations
    assert result["fanout"]["posts_completed"] > 0
    assert set(result["processes"]) == {"murmur-api", "murmur-worker-0", "locust"}
    assert result["storage"]["timeline_entries"] > 0  # DynamoDB's own count
    assert any("loading the store" in line for line in said)
