from datetime import UTC, datetime, timedelta

import pytest

from murmur.domain import IdGenerator, id_key, id_time
from murmur.settings import Settings, node_id_of


def test_ids_are_unique_and_increase_in_creation_order() -> None:
    ids = IdGenerator(node=3)
    minted = [ids.next_id() for _ in range(5000)]  # many per millisecond: the sequence must roll over
    assert len(set(minted)) == len(minted)
    assert [id_key(i) for i in minted] == sorted(id_key(i) for i in minted)


def test_ids_fit_a_double_and_carry_their_time() -> None:
    at = datetime(2031, 5, 17, 12, 30, 15, 250_000, tzinfo=UTC)
    minted = IdGenerator(node=1).next_id(at=at)
    assert int(minted) < 2**53  # exact as a Redis score and a JavaScript number
    assert abs(id_time(minted) - at) < timedelta(milliseconds=1)


def test_backdated_ids_order_by_their_time() -> None:
    ids = IdGenerator(node=0)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    later = ids.next_id(at=base + timedelta(seconds=2))
    earlier = ids.next_id(at=base)
    assert id_key(earlier) < id_key(later)


def test_many_backdated_ids_in_one_millisecond_stay_unique_and_ordered() -> None:
    ids = IdGenerator(node=2)
    at = datetime(2025, 6, 1, tzinfo=UTC)
    minted = [ids.next_id(at=at) for _ in range(2000)]
    assert len(set(minted)) == 2000
    assert [id_key(i) for i in minted] == sorted(id_key(i) for i in minted)
    # eight a millisecond per node: 2000 of them move 250 ms on, and no further
    assert id_time(minted[-1]) - at <= timedelta(milliseconds=2000 // 8)


def test_the_node_is_part_of_every_id_and_keeps_processes_apart() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    one, other = IdGenerator(node=1), IdGenerator(node=1023)
    assert {one.next_id(at=at) for _ in range(64)}.isdisjoint({other.next_id(at=at) for _ in range(64)})
    with pytest.raises(ValueError):
        IdGenerator(node=1024)


def test_a_pod_gets_its_node_from_its_name() -> None:
    in_pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert node_id_of({**in_pod, "HOSTNAME": "murmur-worker-3"}, pid=1) == 3  # a StatefulSet ordinal
    a = node_id_of({**in_pod, "HOSTNAME": "murmur-api-7d9f8b6c5-x2k4q"}, pid=1)
    b = node_id_of({**in_pod, "HOSTNAME": "murmur-api-7d9f8b6c5-q8w7e"}, pid=1)
    assert a != b  # every container is PID 1: the name decides, not the PID
    assert node_id_of({"HOSTNAME": "laptop"}, pid=10) != node_id_of({"HOSTNAME": "laptop"}, pid=11)
    assert Settings(node_id=7).resolved_node_id() == 7
