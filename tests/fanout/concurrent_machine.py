"""A hypothesis state machine: API operations racing several fan-out workers, one store call at
a time, with redeliveries, duplicated relay sends, killed workers and lapsed users; after
convergence every timeline must equal the model's (what pull computes from first principles).

The machine is backend-agnostic: a subclass says how to open a platform's backends
(SQLite here, the cloud stand-ins in tests/fanout/test_concurrency_cloud.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from interleaving import Gate, Worker, gated, take

from murmur.domain import CannotFollowSelf, NotFound, UserId
from murmur.events import codec
from murmur.platform import Platform, assemble
from murmur.settings import Settings, Strategy
from murmur.storage.base import Outgoing
from murmur.storage.bundle import Backends
from workers.drain import drain

MAX_USERS = 5
MAX_WORKERS = 3
INACTIVE_DAYS = 30


class Model:
    """What every home timeline must hold: the newest `cap` posts by the owner and followees."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.follows: set[tuple[int, int]] = set()
        self.posts: list[tuple[int, str]] = []  # (author, body), oldest first

    def timeline(self, owner: int) -> list[str]:
        sources = {owner} | {b for a, b in self.follows if a == owner}
        newest_first = [body for author, body in reversed(self.posts) if author in sources]
        return newest_first[: self.cap]


class ConcurrentFanout(RuleBasedStateMachine):
    """Subclasses set `strategy` and implement `open_backends` / `close_backends`."""

    strategy: ClassVar[Strategy] = Strategy.PUSH
    cap: ClassVar[int] = 3

    def settings(self) -> dict[str, Any]:
        return {
            "fanout": self.strategy,
            "hybrid_threshold": 1,
            "timeline_max": self.cap,
            "timeline_trim_every": 2,  # floors, shortfalls and refills at every turn, and entries past the cap
            "inactive_after_days": INACTIVE_DAYS,
            "heal_reads": False,  # the timelines fan-out left, unhealed: healing would hide mistakes
            "auth": {"hash_time_cost": 1, "hash_memory_kib": 8},
            "seed": {"enabled": False},
            # one follower per chunk: every post with followers is a planned, chunked fan-out
            "workers": {"followers_page_size": 1, "visibility_timeout_seconds": 30},
        }

    async def open_backends(self, settings: Settings) -> Backends:
        raise NotImplementedError

    async def close_backends(self, backends: Backends) -> None:
        await backends.close()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = datetime.now(UTC)
        self.gate = Gate()
        self.run(self._open())
        self.model = Model(self.cap)
        self.users: list[UserId] = []
        self.post_ids: dict[str, str] = {}  # body -> id
        self.workers: list[Worker] = []
        self.orphans: list[Worker] = []  # killed mid-task: their messages wait for the lease to end
        self.sent: list[tuple[bytes, str]] = []  # outbox messages, for duplicated relay sends
        self.counter = 0

    async def _open(self) -> None:
        self.settings_ = Settings(**self.settings())
        self.real = await self.open_backends(self.settings_)
        self.platform: Platform = assemble(
            self.settings_, gated(self.real, self.gate), clock=lambda: self.now
        )
        self.platform.feed.inactivity.record_every = 0

    def run(self, work: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(work)

    # --- the API's operations (atomic from the machine's point of view) ----------------------
    # (rules that would do nothing have preconditions: hypothesis would spend steps on them)

    @initialize()
    def first_users(self) -> None:
        for _ in range(3):
            self.register()

    @precondition(lambda self: len(self.users) < MAX_USERS)
    @rule()
    def register(self) -> None:
        session = self.run(
            self.platform.accounts.register(username=f"user{len(self.users)}", password="correct-horse")
        )
        self.users.append(session.user.id)

    @precondition(lambda self: len(self.users) >= 2)
    @rule(a=st.integers(0, MAX_USERS - 1), b=st.integers(0, MAX_USERS - 1), follow=st.booleans())
    def change_following(self, a: int, b: int, follow: bool) -> None:
        a, b = a % len(self.users), b % len(self.users)
        feed = self.platform.feed
        change = feed.follow if follow else feed.unfollow
        with contextlib.suppress(CannotFollowSelf):
            self.run(change(viewer=self.users[a], target=self.users[b]))
            (self.model.follows.add if follow else self.model.follows.discard)((a, b))

    @precondition(lambda self: len(self.users) >= 1)
    @rule(author=st.integers(0, MAX_USERS - 1), count=st.integers(1, 3))
    def post(self, author: int, count: int) -> None:
        author %= len(self.users)
        for _ in range(count):
            self.counter += 1
            body = f"post {self.counter}"
            post = self.run(self.platform.feed.create_post(author=self.users[author], body=body))
            self.post_ids[body] = post.id
            self.sent.append(
                (codec.post_created(post.id, post.author_id, post.delivery), f"{post.id}:created")
            )
            self.model.posts.append((author, body))

    @precondition(lambda self: len(self.model.posts) >= 1)
    @rule(index=st.integers(0, 100))
    def delete(self, index: int) -> None:
        author, body = self.model.posts[index % len(self.model.posts)]
        post_id = self.post_ids.pop(body)
        with contextlib.suppress(NotFound):
            self.run(self.platform.feed.delete_post(viewer=self.users[author], post_id=post_id))
        self.model.posts.remove((author, body))

    @precondition(lambda self: len(self.users) >= 1)
    @rule(user=st.integers(0, MAX_USERS - 1))
    def read(self, user: int) -> None:
        """A reader's first page: records activity, rebuilds a returning reader's timeline."""
        viewer = self.users[user % len(self.users)]
        self.run(self.platform.feed.home_timeline(viewer=viewer, after=None, start=0, first=2))

    @precondition(lambda self: len(self.users) >= 1)
    @rule(user=st.integers(0, MAX_USERS - 1))
    def lapse(self, user: int) -> None:
        """A month passes in which everyone but this user is active: push skips them (and their
        follows' backfills) until they read again, which rebuilds their timeline."""
        lapsed = self.users[user % len(self.users)]
        self.now += timedelta(days=INACTIVE_DAYS + 1)
        for other in self.users:
            if other != lapsed:  # active as users are: by reading (which rebuilds one coming back)
                self.run(self.platform.feed.home_timeline(viewer=other, after=None, start=0, first=1))

    # --- workers -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.workers) < MAX_WORKERS)
    @rule(bulk=st.booleans())
    def take(self, bulk: bool) -> None:
        b = self.platform.backends
        queue = b.bulk_queue if bulk else b.queue
        worker = self.run(take(self.gate, queue, self.platform.fanout.handle, f"worker-{self.counter}"))
        if worker is not None:
            self.workers.append(worker)

    @precondition(lambda self: self.workers)
    @rule(
        which=st.integers(0, MAX_WORKERS - 1),
        action=st.sampled_from(["step", "step", "to_write", "to_write", "finish", "kill"]),
        calls=st.integers(1, 4),
    )
    def work(self, which: int, action: str, calls: int) -> None:
        """A worker in hand moves: a few store calls, up to its next timeline write (it has read
        the truth and not yet written), to the end, or it dies mid-task (its writes so far
        stay, its message stays leased until the lease runs out)."""
        index = which % len(self.workers)
        worker = self.workers[index]
        if action == "step":
            for _ in range(calls):
                if worker.task.done():
                    break
                self.run(self.gate.advance(worker.task))
        elif action == "to_write":
            self.run(self._step_to_write(worker))
        elif action == "finish":
            self.run(self._finish(self.workers.pop(index)))
        else:
            self.workers.pop(index).task.cancel()
            with contextlib.suppress(BaseException):
                self.run(worker.task)
            self.orphans.append(worker)

    async def _step_to_write(self, worker: Worker) -> None:
        """Run the worker until it waits to make a timeline write; if it waits at one already,
        let that one happen first (so calling this n times passes n - 1 writes)."""
        while not worker.task.done():
            await self.gate.advance(worker.task)
            if self._at_write(worker):
                return

    def _at_write(self, worker: Worker) -> bool:
        call = self.gate.parked_at.get(worker.task, "")
        return call.startswith("timelines.") and not call.endswith(
            ("timeline", "shortfall", "timeline_sizes")
        )

    @precondition(lambda self: len(self.workers) < MAX_WORKERS)
    @rule(
        bulk=st.booleans(),
        pick=st.integers(0, 9),
        writes=st.integers(1, 4),
        # mostly a change to what the worker is about: that is where the windows are
        conflict=st.sampled_from(
            ["delete its post"] * 3 + ["unfollow its author"] * 3 + ["delete", "unfollow", "follow"]
        ),
        index=st.integers(0, 100),
    )
    def conflict_lands_mid_write(self, bulk: bool, pick: int, writes: int, conflict: str, index: int) -> None:
        """The race a review found by hand, aimed at: a worker reads the truth and stops right
        before a timeline write; a conflicting change lands and another worker applies it in
        full; then the first worker writes what it read."""
        b = self.platform.backends
        queue = b.bulk_queue if bulk else b.queue
        worker = self.run(take(self.gate, queue, self.platform.fanout.handle, "racer", pick=pick))
        if worker is None:
            return
        for write in range(writes):  # park before the writes-th timeline write
            if not (write == 0 and self._at_write(worker)):
                self.run(self._step_to_write(worker))
        post_id, author = _subject(worker.message.body)
        body = next((body for body, pid in self.post_ids.items() if pid == post_id), None)
        if conflict == "delete its post" and body is not None:
            self.delete(next(i for i, (_, b_) in enumerate(self.model.posts) if b_ == body))
        elif conflict == "unfollow its author" and author in self.users:
            followee = self.users.index(author)
            followers = self._followers_it_reaches(worker, followee)
            if followers:
                self.change_following(followers[index % len(followers)], followee, follow=False)
        elif conflict == "delete" and self.model.posts:
            self.delete(index)
        elif conflict == "unfollow" and self.model.follows:
            a, b_ = sorted(self.model.follows)[index % len(self.model.follows)]
            self.change_following(a, b_, follow=False)
        elif conflict == "follow":
            self.change_following(index, index // 5 + 1, follow=True)
        self.run(self._handle_express())
        self.run(self._finish(worker))

    def _followers_it_reaches(self, worker: Worker, followee: int) -> list[int]:
        """The followers a message delivers to: a chunk's span, else all of the author's."""
        followers = sorted(a for a, b in self.model.follows if b == followee)
        task = codec.decode_task(worker.message.body)
        if task.WhichOneof("task") == "chunk":
            span = self.run(self.real.graph.followers_in(user_id=self.users[followee], span=task.chunk.span))
            followers = [a for a in followers if self.users[a] in span]
        return followers

    @precondition(lambda self: len(self.workers) < MAX_WORKERS - 1)
    @rule(lanes=st.lists(st.booleans(), min_size=2, max_size=2))
    def two_workers_in_lockstep(self, lanes: list[bool]) -> None:
        """Two messages handled at the same time, one store call each in turn (two deletes
        refilling one timeline, a chunk and a delete of its post, two copies of a chunk...)."""
        b = self.platform.backends
        pair = [
            self.run(take(self.gate, b.bulk_queue if bulk else b.queue, self.platform.fanout.handle, "pair"))
            for bulk in lanes
        ]
        running = [worker for worker in pair if worker is not None]
        while any(not worker.task.done() for worker in running):
            for worker in running:
                if not worker.task.done():
                    self.run(self.gate.advance(worker.task))
        for worker in running:
            self.run(self._finish(worker))

    @precondition(lambda self: self.model.posts or self.model.follows)
    @rule()
    def another_worker_handles_the_express_lane(self) -> None:
        """Follows, deletes and plans handled at once, in full, by a worker of their own, while
        the workers in hand wait where they are."""
        self.run(self._handle_express())

    async def _handle_express(self) -> None:
        while worker := await take(
            self.gate, self.platform.backends.queue, self.platform.fanout.handle, "express"
        ):
            await self._finish(worker)

    @precondition(lambda self: self.workers or self.orphans)
    @rule()
    def leases_run_out(self) -> None:
        """Every message in hand is delivered again, also to workers still handling it."""
        held = [*self.orphans, *self.workers]
        self.orphans = []
        for worker in held:
            self.run(worker.queue.release(receipts=[worker.message.receipt]))

    @precondition(lambda self: self.sent)
    @rule(index=st.integers(0, 100))
    def relay_sends_again(self, index: int) -> None:
        """A relay publishes an outbox message once more (its dedup key may or may not drop it)."""
        body, key = self.sent[index % len(self.sent)]
        self.run(self.real.queue.send(messages=[Outgoing(body, dedup_key=key)]))

    async def _finish(self, worker: Worker) -> None:
        while not worker.task.done():
            await self.gate.advance(worker.task)
        if worker.task.cancelled() or worker.task.exception() is not None:
            await worker.queue.release(receipts=[worker.message.receipt])
        else:
            await worker.queue.ack(receipts=[worker.message.receipt])

    # --- convergence ---------------------------------------------------------------------------

    @precondition(lambda self: self.model.posts)
    @rule()
    def converge_and_compare(self) -> None:
        self.run(self._converge())
        for owner in range(len(self.users)):
            got = self.run(self._read_all(self.users[owner]))
            expected = self.model.timeline(owner)
            assert got == expected, f"{self.strategy} timeline of user{owner}: {got} != {expected}"
        self.gate.open = False

    async def _converge(self) -> None:
        await self.gate.release_all()
        for worker in self.workers:
            await self._finish(worker)
        for worker in self.orphans:
            await worker.queue.release(receipts=[worker.message.receipt])
        self.workers, self.orphans = [], []
        await drain(self.platform)

    async def _read_all(self, viewer: UserId) -> list[str]:
        """Page through the whole timeline two posts at a time, as a client would."""
        feed, posts = self.platform.feed, self.platform.backends.posts
        bodies: list[str] = []
        after, start = None, 0
        while True:
            page = await feed.home_timeline(viewer=viewer, after=after, start=start, first=2)
            found = await posts.posts_by_id(ids=page.post_ids)
            bodies.extend(found[post_id].body for post_id in page.post_ids)
            if not page.has_next:
                return bodies
            after, start = page.post_ids[-1], start + len(page.post_ids)

    @invariant()
    def nothing_dead_lettered(self) -> None:
        for queue in (self.real.queue, self.real.bulk_queue):
            assert self.run(queue.depth()).dead == 0

    def teardown(self) -> None:
        try:
            self.converge_and_compare()
        finally:
            self.run(self.close_backends(self.real))
            self.loop.close()


def _subject(body: bytes) -> tuple[str, UserId]:
    """The post and author a fan-out message is about ("" for a follow change)."""
    task = codec.decode_task(body)
    kind = task.WhichOneof("task")
    if kind == "follow_changed":
        return "", UserId(task.follow_changed.followee_id)
    about = getattr(task, kind)
    return about.post_id, UserId(about.author_id)


def machine_settings(**overrides: Any) -> Callable[[type[ConcurrentFanout]], Any]:
    """Hypothesis settings for a machine's TestCase."""
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings

    values: dict[str, Any] = {
        "max_examples": 30,
        "stateful_step_count": 40,
        "deadline": None,
        "suppress_health_check": list(HealthCheck),
        **overrides,
    }

    def apply(machine: type[ConcurrentFanout]) -> Any:
        case = machine.TestCase
        case.settings = hypothesis_settings(**values)
        return case

    return apply
