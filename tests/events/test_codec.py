import subprocess
import sys
from pathlib import Path

import pytest

from murmur.domain import Delivery
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]


def test_tasks_round_trip() -> None:
    task = codec.decode_task(codec.post_created("11", "22", Delivery.PULLED))
    assert task.WhichOneof("task") == "post_created"
    assert (task.post_created.post_id, task.post_created.author_id) == ("11", "22")
    assert codec.delivery_from_pb(task.post_created.delivery) is Delivery.PULLED
    deleted = codec.decode_task(codec.post_deleted("11", "22", Delivery.PUSHED))
    assert codec.delivery_from_pb(deleted.post_deleted.delivery) is Delivery.PUSHED
    chunk = codec.decode_task(
        codec.chunk("11", "22", pb.CHUNK_OPERATION_REMOVE, index=3, count=9, span="7:12")
    )
    assert chunk.WhichOneof("task") == "chunk"
    assert (chunk.chunk.index, chunk.chunk.count, chunk.chunk.span) == (3, 9, "7:12")
    assert chunk.chunk.operation == pb.CHUNK_OPERATION_REMOVE


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"", pb.FanoutTask().SerializeToString()])
def test_garbage_and_empty_tasks_are_undecodable(body: bytes) -> None:
    with pytest.raises(codec.UndecodableMessage):
        codec.decode_task(body)


def test_unknown_delivery_is_undecodable() -> None:
    with pytest.raises(codec.UndecodableMessage):
        codec.delivery_from_pb(pb.DELIVERY_UNSPECIFIED)


def test_checked_in_code_matches_the_proto(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(ROOT / "proto"),
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(ROOT / "proto/murmur/events/v1/events.proto"),
        ],
        check=True,
    )
    for name in ("events_pb2.py", "events_pb2.pyi"):
        generated = (tmp_path / "murmur/events/v1" / name).read_text()
        checked_in = (ROOT / "murmur/events/v1" / name).read_text()
        assert generated == checked_in, f"{name} is stale: run `make proto`"
