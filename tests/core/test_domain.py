from datetime import UTC, datetime, timedelta

from murmur.domain import IdGenerator, id_key, id_time


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
    assert id_time(minted[-1]) - at < timedelta(milliseconds=10)
