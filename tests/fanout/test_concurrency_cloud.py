"""Fan-out stays exact when workers race on the cloud backends too.

The state machine of concurrent_machine.py, on the cloud profile's stand-ins: MongoDB
(SecantusDB) for users, posts and the ledger, Neptune's openCypher (FalkorDB's Bolt port)
with follower blocks of one, DynamoDB and SQS FIFO lanes (moto), and Redis hot timelines
in front of DynamoDB. Leases run out by release (SQS's ChangeMessageVisibility), so no
example waits for a clock. These servers are slow (moto answers in milliseconds per
request), so it runs fewer examples than the embedded machine; the scripted races and
the embedded machine cover the windows in depth, this one that every backend keeps them
shut.
"""

from __future__ import annotations

from typing import Any

import pytest
from concurrent_machine import ConcurrentFanout
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test

from devstack.cloud import CloudServers
from murmur.settings import Settings, Strategy
from murmur.storage.bundle import Backends
from tests.hypothesis_profiles import examples as soaked
from tests.support.cloud import FifoMemory, StandIns, cloud_settings, open_aws_like_backends


class CloudFanout(ConcurrentFanout):
    """The machine on the stand-ins of the running test (the `cloud_servers` fixture)."""

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), **cloud_settings(StandIns.get())}

    async def open_backends(self, settings: Settings) -> Backends:
        """Both processes' SQS clients keep AWS's FIFO rules with one memory, the queue's."""
        if not hasattr(self, "fifo_memory"):
            self.fifo_memory = FifoMemory()
        return await open_aws_like_backends(settings, self.fifo_memory)


class CloudPush(CloudFanout):
    strategy = Strategy.PUSH


class CloudHybrid(CloudFanout):
    strategy = Strategy.HYBRID


def _run(machine: type[ConcurrentFanout], examples: int) -> None:
    run_state_machine_as_test(
        machine,
        settings=hypothesis_settings(
            max_examples=soaked(examples),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,  # the servers' state is not replayable across runs anyway
        ),
    )


@pytest.mark.backend
@pytest.mark.timeout(600)
def test_push_stays_exact_under_concurrency_on_the_cloud_backends(cloud_servers: CloudServers) -> None:
    _run(CloudPush, examples=8)


@pytest.mark.backend
@pytest.mark.timeout(600)
def test_hybrid_stays_exact_under_concurrency_on_the_cloud_backends(cloud_servers: CloudServers) -> None:
    _run(CloudHybrid, examples=5)
