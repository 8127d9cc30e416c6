"""The races a review reproduced by hand, each replayed as a fixed interleaving.

Each test drives the concurrency state machine (concurrent_machine.py) through one
scripted sequence and ends, as every example does, by converging and comparing every
timeline with the model: on the embedded backends under push and hybrid, and on the
cloud stand-ins under push (where chunks exist to race). The random machines explore
around these; these make sure the known windows stay shut on every run and backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from concurrent_machine import ConcurrentFanout
from interleaving import take
from test_concurrency import EmbeddedHybrid, EmbeddedPush
from test_concurrency_cloud import CloudPush


def _machine(kind: type[ConcurrentFanout]) -> Iterator[ConcurrentFanout]:
    m = kind()
    m.first_users()  # user0, user1, user2
    yield m
    m.teardown()  # converges and compares every timeline with the model


def _backend(request: pytest.FixtureRequest, kind: type[ConcurrentFanout]) -> type[ConcurrentFanout]:
    if kind is CloudPush:
        request.getfixturevalue("cloud_servers")
        request.applymarker(pytest.mark.backend)
    return kind


@pytest.fixture(params=[EmbeddedPush, EmbeddedHybrid, CloudPush], ids=["push", "hybrid", "cloud-push"])
def machine(request: pytest.FixtureRequest) -> Iterator[ConcurrentFanout]:
    yield from _machine(_backend(request, request.param))


@pytest.fixture(params=[EmbeddedPush, CloudPush], ids=["push", "cloud-push"])
def push_machine(request: pytest.FixtureRequest) -> Iterator[ConcurrentFanout]:
    """Under hybrid (threshold 1) an author with two followers is pulled: no chunks to race."""
    yield from _machine(_backend(request, request.param))


def followed(m: ConcurrentFanout, *edges: tuple[int, int]) -> None:
    for follower, followee in edges:
        m.change_following(follower, followee, follow=True)
    m.another_worker_handles_the_express_lane()


def test_an_unfollow_between_a_chunks_read_and_its_write(push_machine: ConcurrentFanout) -> None:
    followed(push_machine, (1, 0), (2, 0))
    push_machine.post(author=0, count=1)
    push_machine.another_worker_handles_the_express_lane()  # plans: chunks wait on the bulk lane
    push_machine.conflict_lands_mid_write(
        bulk=True, pick=0, writes=1, conflict="unfollow its author", index=0
    )
    push_machine.conflict_lands_mid_write(
        bulk=True, pick=0, writes=1, conflict="unfollow its author", index=1
    )


def test_a_delete_between_a_chunks_read_and_its_write(push_machine: ConcurrentFanout) -> None:
    followed(push_machine, (1, 0), (2, 0))
    push_machine.post(author=0, count=2)
    push_machine.another_worker_handles_the_express_lane()
    push_machine.conflict_lands_mid_write(bulk=True, pick=0, writes=1, conflict="delete its post", index=0)


def test_a_delete_between_a_single_chunk_plans_read_and_its_write(machine: ConcurrentFanout) -> None:
    followed(machine, (1, 0))
    machine.post(author=0, count=1)
    # the plan delivers to the author, then inline to the one follower: stop before that write
    machine.conflict_lands_mid_write(bulk=False, pick=0, writes=2, conflict="delete its post", index=0)


def test_two_deletes_at_once_leave_no_full_timeline_short(machine: ConcurrentFanout) -> None:
    followed(machine, (1, 0), (1, 2))
    machine.post(author=2, count=3)
    machine.post(author=0, count=3)  # user1's timeline is full (cap 3) with older posts below
    machine.converge_and_compare()
    machine.delete(index=5)
    machine.delete(index=4)
    machine.two_workers_in_lockstep(lanes=[False, False])


def test_a_chunk_delivered_again_while_it_is_being_handled(push_machine: ConcurrentFanout) -> None:
    followed(push_machine, (1, 0), (2, 0))
    push_machine.post(author=0, count=1)
    push_machine.another_worker_handles_the_express_lane()
    push_machine.take(bulk=True)
    push_machine.work(which=0, action="step", calls=3)
    push_machine.leases_run_out()  # its lease ends mid-task: another worker gets the same chunk
    push_machine.take(bulk=True)
    push_machine.two_workers_in_lockstep(lanes=[True, True])
    push_machine.work(which=1, action="finish", calls=1)
    push_machine.work(which=0, action="finish", calls=1)


def test_a_worker_killed_mid_chunk(push_machine: ConcurrentFanout) -> None:
    followed(push_machine, (1, 0), (2, 0))
    push_machine.post(author=0, count=2)
    push_machine.another_worker_handles_the_express_lane()
    push_machine.take(bulk=True)
    push_machine.work(which=0, action="to_write", calls=1)
    push_machine.work(which=0, action="step", calls=1)
    push_machine.work(which=0, action="kill", calls=1)
    push_machine.delete(index=1)
    push_machine.leases_run_out()


def test_a_relay_sending_a_handled_post_again(machine: ConcurrentFanout) -> None:
    followed(machine, (1, 0))
    machine.post(author=0, count=2)
    machine.converge_and_compare()
    machine.relay_sends_again(index=0)
    machine.delete(index=0)
    machine.relay_sends_again(index=0)  # a plan for a post deleted since: it must not come back


def test_a_follow_and_its_unfollow_handled_at_once(machine: ConcurrentFanout) -> None:
    machine.post(author=0, count=2)
    machine.converge_and_compare()
    machine.change_following(1, 0, follow=True)
    machine.change_following(1, 0, follow=False)
    machine.two_workers_in_lockstep(lanes=[False, False])


def test_a_refill_racing_the_delete_of_the_post_it_read(machine: ConcurrentFanout) -> None:
    machine.post(author=0, count=5)
    followed(machine, (1, 0))  # the backfill brings the newest 3 and sets user1's floor
    machine.converge_and_compare()
    machine.delete(index=4)  # the newest: user1's refill will read post 2 to fill the gap
    worker = machine.run(take(machine.gate, machine.worker.backends.queue, machine.worker.fanout.handle, "d"))
    assert worker is not None
    # the delete's plan removes the post from user0, then from user1, then refills user1 with
    # post 2, which it has read: stop right before that write
    removals = 0
    while machine.gate.parked_at.get(worker.task) != "timelines.refill" or removals < 2:
        removals += machine.gate.parked_at.get(worker.task) == "timelines.remove_post"
        machine.run(machine.gate.advance(worker.task))
        assert not worker.task.done(), "the delete never refilled user1"
    machine.delete(index=1)  # post 2 goes, and another worker applies that in full
    machine.another_worker_handles_the_express_lane()
    machine.run(machine._finish(worker))


def test_a_returning_reader_rebuilt_while_pushes_race(machine: ConcurrentFanout) -> None:
    followed(machine, (1, 0), (1, 2))
    machine.lapse(user=1)
    machine.post(author=0, count=2)  # push skips user1
    machine.another_worker_handles_the_express_lane()
    machine.post(author=2, count=1)
    machine.take(bulk=False)
    machine.work(which=0, action="to_write", calls=1)
    machine.read(user=1)  # back: rebuilt while a push to them is half done
    machine.work(which=0, action="finish", calls=1)


def test_the_machine_notices_a_missing_recheck(
    machine: ConcurrentFanout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness itself: without fan-out's re-check after writing, the delete race above
    leaves a deleted post in a timeline, and the comparison says so."""
    repair = machine.worker.fanout.repair

    async def no_recheck(*args: object, **kwargs: object) -> list[object]:
        return []

    monkeypatch.setattr(repair, "recheck", no_recheck)
    followed(machine, (1, 0))
    machine.post(author=0, count=1)
    machine.conflict_lands_mid_write(bulk=False, pick=0, writes=2, conflict="delete its post", index=0)
    with pytest.raises((AssertionError, KeyError)):
        machine.converge_and_compare()
    monkeypatch.undo()
    machine.model.posts.clear()  # the stale entry stays; teardown need not compare this one
    machine.users.clear()
