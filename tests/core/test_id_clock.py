"""Issue 17, finding 13: live ids never run ahead of the clock, and a generator restarted
with the same node never reissues an id its predecessor minted."""

from __future__ import annotations

from murmur.domain import EPOCH_MS, NODE_BITS, SEQUENCE_BITS, IdGenerator


class TickingClock:
    """Wall-clock seconds that move forward a little every time they are read."""

    def __init__(self, start: float, tick: float) -> None:
        self.now = start
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def ms_of(any_id: str) -> int:
    return int(any_id) >> (NODE_BITS + SEQUENCE_BITS)


START = 1_750_000_000.0  # some time in 2025


def test_a_burst_waits_for_the_clock_instead_of_running_ahead() -> None:
    clock = TickingClock(START, tick=100e-6)  # 10 readings a millisecond
    ids = IdGenerator(node=3, clock=clock)
    minted = [ids.next_id() for _ in range(80_000)]
    assert len(set(minted)) == len(minted)
    assert [int(i) for i in minted] == sorted(int(i) for i in minted)
    clock_ms = int(clock.now * 1000) - EPOCH_MS
    assert ms_of(minted[-1]) <= clock_ms  # never ahead of the clock
    # and at eight a millisecond, the burst took (at least) its 10,000 ms of clock
    assert clock_ms - ms_of(minted[0]) >= 80_000 // 8 - 1


def test_a_restarted_node_does_not_reissue_ids() -> None:
    # the clock barely moves: the new process starts in the millisecond the old one was
    # minting in when it stopped
    clock = TickingClock(START, tick=20e-6)
    before = IdGenerator(node=7, clock=clock)
    first = [before.next_id() for _ in range(5)]
    after = IdGenerator(node=7, clock=clock)  # same node, same millisecond
    second = [after.next_id() for _ in range(5)]
    assert not set(first) & set(second)
    assert min(int(i) for i in second) > max(int(i) for i in first)


def test_a_clock_stepping_back_never_reuses_an_id() -> None:
    clock = TickingClock(START, tick=20e-6)
    ids = IdGenerator(node=1, clock=clock)
    minted = [ids.next_id() for _ in range(20)]
    clock.now -= 5.0  # NTP steps the clock back five seconds
    minted += [ids.next_id() for _ in range(20)]
    assert len(set(minted)) == 40
    assert [int(i) for i in minted] == sorted(int(i) for i in minted)


def test_backdated_ids_still_count_per_millisecond() -> None:
    from datetime import UTC, datetime

    ids = IdGenerator(node=2)
    at = datetime(2024, 6, 1, tzinfo=UTC)
    minted = [ids.next_id(at=at) for _ in range(20)]
    assert len(set(minted)) == 20
    assert ms_of(minted[0]) == int(at.timestamp() * 1000) - EPOCH_MS
    assert ms_of(minted[-1]) == ms_of(minted[0]) + 2
