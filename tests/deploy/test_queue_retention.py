"""Every SQS queue Terraform defines keeps messages 14 days, SQS's longest: at the default
(4 days) a fan-out chunk starved that long would expire without a trace."""

from __future__ import annotations

import hcl2

from tests.deploy.conftest import ROOT


def test_every_sqs_queue_keeps_messages_14_days() -> None:
    queues = {}
    for path in sorted((ROOT / "terraform").rglob("*.tf")):
        for resource in hcl2.loads(path.read_text()).get("resource", []):
            for name, body in resource.get('"aws_sqs_queue"', {}).items():
                queues[f"{path.relative_to(ROOT)}:{name}"] = body.get("message_retention_seconds")
    assert len(queues) >= 2  # the lanes (one resource for both) and the dead-letter queue
    assert queues == dict.fromkeys(queues, 1209600)
