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

import pytest
from concurrent_machine import ConcurrentFanout
from conftest import CloudHybrid, CloudPush
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test

from tests.hypothesis_profiles import examples as soaked


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
def test_push_stays_exact_under_concurrency_on_the_cloud_backends(cloud_servers: None) -> None:
    _run(CloudPush, examples=8)


@pytest.mark.backend
@pytest.mark.timeout(600)
def test_hybrid_stays_exact_under_concurrency_on_the_cloud_backends(cloud_servers: None) -> None:
    _run(CloudHybrid, examples=5)
