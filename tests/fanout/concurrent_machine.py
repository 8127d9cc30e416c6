"""A hypothesis state machine: API operations racing several fan-out workers, one store call at
a time, with redeliveries, duplicated relay sends, killed workers and lapsed users; after
convergence every timeline must equal the model's (what pull computes from first principles).

Two processes share the stores, as `murmur serve` and `murmur worker` do: the API's
operations run on one platform (its own connections and cache), the workers, the relay and
convergence on another. Injected store failures (faults.py) hit the worker's repair and
refill calls, so tasks fail mid-way and are retried; a follow's graph write can stall
while the relay and workers run; a post's plan can be delivered again after its author's
followers changed. Live events are heard on the bus of the process that completes a
fan-out: after convergence, every post still there was announced ADDED exactly once, and
no delete was announced twice.

The machine is backend-agnostic: a subclass says how to open a platform's backends
(SQLite here, the cloud stand-ins in tests/fanout/test_concurrency_cloud.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from faults import Checkpoints, Faults
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from interleaving import Gate, Worker, gated, take

from murmur.domain import CannotFollowSelf, IdGenerator, NotFound, PermanentStoreError, UserId
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.platform import Platform, assemble
from murmur.settings import Settings, Strategy
from murmur.storage.base import EventBus, Outgoing
from murmur.storage.bundle import Backends
from murmur.storage.memory import LocalEventBus
from tests.hypothesis_profiles import examples
from workers.drain import drain

MAX_USERS = 5
MAX_WORKERS = 3
INACTIVE_DAYS = 30
API_NODE, WORKER_NODE = 1, 2
# the store calls fan-out's repair and refill make, where an injected failure lands
FAULTY_CALLS = (
    "timelines.refill",
    "timelines.shortfall",
    "timelines.remove_post",
    "timelines.remove_author",
    "timelines.rebuild",
    "timelines.add_to_timelines",
    "timelines.backfill",
    "posts.recent_posts",
    "posts.posts_by_id",
    "graph.following",
    "graph.follows",
    "graph.followers_among",
    "graph.followers_in",
    "ledger.finish",
    "ledger.is_done",
)
# each injected failure costs its message one receive (SQS counts a release as one): far more
# than a run can inject, so only a permanent failure could dead-letter a message
MAX_RECEIVES = 200
ADDED, REMOVED = pb.TimelineEvent.KIND_ADDED, pb.TimelineEvent.KIND_REMOVED
END_OF_EVENTS = b"the machine's end of events"


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
            "workers": {
                "followers_page_size": 1,
                "visibility_timeout_seconds": 30,
                "max_receives": MAX_RECEIVES,
            },
        }

    async def open_backends(self, settings: Settings) -> Backends:
        """One process's connections to the machine's stores (called once per platform)."""
        raise NotImplementedError

    async def close_backends(self, backends: Backends) -> None:
        await backends.close()

    async def remove_stores(self) -> None:
        """After both processes closed: throw the stores away."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = datetime.now(UTC)
        self.gate = Gate()
        self.faults = Faults()  # on the worker's store calls only
        self.events: Counter[tuple[int, str]] = Counter()  # (kind, post id) -> times announced
        self.listening = contextlib.AsyncExitStack()
        self.subscriptions: list[tuple[EventBus, UserId, Any]] = []
        self.deleted: set[str] = set()  # ids of posts deleted through the API
        self.run(self._open())
        self.model = Model(self.cap)
        self.users: list[UserId] = []
        self.post_ids: dict[str, str] = {}  # body -> id
        self.workers: list[Worker] = []
        self.orphans: list[Worker] = []  # killed mid-task: their messages wait for the lease to end
        self.sent: list[tuple[bytes, str]] = []  # outbox messages, for duplicated relay sends
        self.counter = 0

    async def _open(self) -> None:
        """Two processes over the same stores: `murmur serve` (the API) and `murmur worker`."""
        self.settings_ = Settings(**self.settings())
        self.api_real = await self.open_backends(self.settings_)
        self.worker_real = await self.open_backends(self.settings_)
        clock = lambda: self.now  # noqa: E731
        # the API's operations pass the gate freely, unless a rule runs one as a controlled task
        self.api: Platform = assemble(
            self.settings_, gated(self.api_real, self.gate), ids=IdGenerator(API_NODE), clock=clock
        )
        self.worker: Platform = assemble(
            self.settings_,
            gated(self.worker_real, Checkpoints(self.gate, self.faults)),
            ids=IdGenerator(WORKER_NODE),
            serves_api=False,
            clock=clock,
        )
        for platform in (self.api, self.worker):
            platform.feed.inactivity.record_every = 0

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
            self.api.accounts.register(username=f"user{len(self.users)}", password="correct-horse")
        )
        self.users.append(session.user.id)
        self.run(self._listen(session.user.id))

    @precondition(lambda self: len(self.users) >= 2)
    @rule(a=st.integers(0, MAX_USERS - 1), b=st.integers(0, MAX_USERS - 1), follow=st.booleans())
    def change_following(self, a: int, b: int, follow: bool) -> None:
        a, b = a % len(self.users), b % len(self.users)
        feed = self.api.feed
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
            post = self.run(self.api.feed.create_post(author=self.users[author], body=body))
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
            self.run(self.api.feed.delete_post(viewer=self.users[author], post_id=post_id))
            self.deleted.add(post_id)
        self.model.posts.remove((author, body))

    @precondition(lambda self: len(self.users) >= 1)
    @rule(user=st.integers(0, MAX_USERS - 1))
    def read(self, user: int) -> None:
        """A reader's first page: records activity, rebuilds a returning reader's timeline."""
        viewer = self.users[user % len(self.users)]
        self.run(self.api.feed.home_timeline(viewer=viewer, after=None, start=0, first=2))

    @precondition(lambda self: len(self.users) >= 1)
    @rule(user=st.integers(0, MAX_USERS - 1))
    def lapse(self, user: int) -> None:
        """A month passes in which everyone but this user is active: push skips them (and their
        follows' backfills) until they read again, which rebuilds their timeline."""
        lapsed = self.users[user % len(self.users)]
        self.now += timedelta(days=INACTIVE_DAYS + 1)
        for other in self.users:
            if other != lapsed:  # active as users are: by reading (which rebuilds one coming back)
                self.run(self.api.feed.home_timeline(viewer=other, after=None, start=0, first=1))

    # --- workers -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.workers) < MAX_WORKERS)
    @rule(bulk=st.booleans(), in_the_api=st.sampled_from([False, False, True]))
    def take(self, bulk: bool, in_the_api: bool = False) -> None:
        """A worker takes a message: mostly the worker process, sometimes a consumer in the API
        process (`murmur serve` runs MURMUR_WORKERS__IN_PROCESS of them)."""
        process = self.api if in_the_api else self.worker
        b = process.backends
        queue = b.bulk_queue if bulk else b.queue
        worker = self.run(take(self.gate, queue, process.fanout.handle, f"worker-{self.counter}"))
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
        b = self.worker.backends
        queue = b.bulk_queue if bulk else b.queue
        worker = self.run(take(self.gate, queue, self.worker.fanout.handle, "racer", pick=pick))
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
            graph = self.worker_real.graph
            span = self.run(graph.followers_in(user_id=self.users[followee], span=task.chunk.span))
            followers = [a for a in followers if self.users[a] in span]
        return followers

    @precondition(lambda self: len(self.workers) < MAX_WORKERS - 1)
    @rule(lanes=st.lists(st.booleans(), min_size=2, max_size=2))
    def two_workers_in_lockstep(self, lanes: list[bool]) -> None:
        """Two messages handled at the same time, one store call each in turn (two deletes
        refilling one timeline, a chunk and a delete of its post, two copies of a chunk...)."""
        b = self.worker.backends
        pair = [
            self.run(take(self.gate, b.bulk_queue if bulk else b.queue, self.worker.fanout.handle, "pair"))
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
    @rule(in_the_api=st.booleans())
    def another_worker_handles_the_express_lane(self, in_the_api: bool = False) -> None:
        """Follows, deletes and plans handled at once, in full, by a worker of their own (in the
        worker process or the API's), while the workers in hand wait where they are."""
        self.run(self._handle_express(self.api if in_the_api else self.worker))

    async def _handle_express(self, process: Platform | None = None) -> None:
        process = process or self.worker
        while worker := await take(self.gate, process.backends.queue, process.fanout.handle, "express"):
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
        self.run(self.worker_real.queue.send(messages=[Outgoing(body, dedup_key=key)]))

    async def _finish(self, worker: Worker) -> None:
        while not worker.task.done():
            await self.gate.advance(worker.task)
        if worker.task.cancelled() or worker.task.exception() is not None:
            await worker.queue.release(receipts=[worker.message.receipt])  # retried
        else:
            # a lease that ran out and was taken again makes this receipt stale: SQS refuses it
            # (the consumer logs that as "no longer mine"), SQLite ignores it
            with contextlib.suppress(PermanentStoreError):
                await worker.queue.ack(receipts=[worker.message.receipt])

    # --- faults, stalls and replans ------------------------------------------------------------

    @rule(call=st.sampled_from(FAULTY_CALLS), times=st.integers(1, 3))
    def store_call_fails(self, call: str, times: int) -> None:
        """The worker's next `times` calls of `call` raise a throttle: the task fails where it
        stands, its message is released and delivered again."""
        self.faults.fail(call, times=times)

    @precondition(lambda self: len(self.users) >= 2)
    @rule(a=st.integers(0, MAX_USERS - 1), shift=st.integers(1, MAX_USERS - 1), follow=st.booleans())
    def graph_write_stalls_while_relays_run(self, a: int, shift: int, follow: bool) -> None:
        """A follow change saved its task and stalls in its graph write; meanwhile the worker's
        relay runs (the task's grace is long past) and a worker handles the express lane; then
        the write lands and the API publishes its task."""
        a = a % len(self.users)
        b = (a + 1 + (shift - 1) % (len(self.users) - 1)) % len(self.users)
        self.run(self._stalled_change(a, b, follow=follow))
        (self.model.follows.add if follow else self.model.follows.discard)((a, b))

    async def _stalled_change(self, a: int, b: int, *, follow: bool) -> None:
        feed = self.api.feed
        change = feed.follow if follow else feed.unfollow
        call = "graph.follow" if follow else "graph.unfollow"
        api = self.gate.start(change(viewer=self.users[a], target=self.users[b]), name="api")
        await self.gate.settle(api)
        while not api.done() and self.gate.parked_at.get(api) != call:
            await self.gate.advance(api)
        assert not api.done(), f"the API's {call} never came: {api}"
        relayed = await self.worker.feed.relay_outbox(older_than_seconds=0)
        await self._handle_express()
        while not api.done():
            await self.gate.advance(api)
        await api  # the API's answer: raises what it raised
        assert relayed == 0, "a relay published the task of a follow change still being made"

    @precondition(lambda self: self.sent and len(self.users) >= 2)
    @rule(index=st.integers(0, 100), follower=st.integers(0, MAX_USERS - 1), follow=st.booleans())
    def plan_delivered_again_after_the_followers_changed(
        self, index: int, follower: int, follow: bool
    ) -> None:
        """A post's plan comes again (a relay's copy, a fresh dedup key) after its author gained
        or lost a follower: the recorded plan decides, so it is announced once."""
        body, key = self.sent[index % len(self.sent)]
        _, author_id = _subject(body)
        author = self.users.index(author_id)
        follower %= len(self.users)
        if follower == author:
            follower = (follower + 1) % len(self.users)
        self.change_following(follower, author, follow=follow)
        self.counter += 1
        self.run(
            self.worker_real.queue.send(messages=[Outgoing(body, dedup_key=f"{key}:again:{self.counter}")])
        )

    # --- convergence ---------------------------------------------------------------------------

    @precondition(lambda self: self.model.posts)
    @rule()
    def converge_and_compare(self) -> None:
        self.run(self._converge())
        self._compare_timelines()
        self.run(self._hear_events())
        self._compare_events()
        self.gate.open = False

    def _compare_timelines(self) -> None:
        for owner in range(len(self.users)):
            got = self.run(self._read_all(self.users[owner]))
            expected = self.model.timeline(owner)
            assert got == expected, f"{self.strategy} timeline of user{owner}: {got} != {expected}"

    async def _converge(self) -> None:
        self.faults.clear()
        await self.gate.release_all()
        for worker in self.workers:
            await self._finish(worker)
        for worker in self.orphans:
            await worker.queue.release(receipts=[worker.message.receipt])
        self.workers, self.orphans = [], []
        await drain(self.worker)

    # --- live events ---------------------------------------------------------------------------

    def _buses(self) -> list[EventBus]:
        """Where fan-out announces: the bus of the process that completes it. An in-process bus
        (embedded) is each process's own, so a fan-out the API's consumers complete is heard on
        the API's; a shared one (Redis) is heard once, on the worker's."""
        worker, api = self.worker_real.bus, self.api_real.bus
        return [worker, api] if isinstance(api, LocalEventBus) else [worker]

    async def _listen(self, author: UserId) -> None:
        channel = codec.author_channel(author)
        for bus in self._buses():
            subscription = await self.listening.enter_async_context(bus.subscribe(channels=[channel]))
            self.subscriptions.append((bus, author, subscription))

    async def _hear_events(self) -> None:
        """Everything announced so far: each channel read up to a marker published after it."""
        for bus, author, subscription in self.subscriptions:
            await bus.publish(channel=codec.author_channel(author), message=END_OF_EVENTS)
            async with asyncio.timeout(10):
                async for _, message in subscription:
                    if message == END_OF_EVENTS:
                        break
                    event = codec.decode_timeline_event(message)
                    assert event.author_id == author, f"{event} on the channel of {author}"
                    self.events[event.kind, event.post_id] += 1

    def _compare_events(self) -> None:
        """Every post still there was announced ADDED exactly once (a deleted one at most once:
        deleted before its fan-out began, it may never be); no delete announced twice, and
        nothing announced that was never written or never deleted."""
        live = {self.post_ids[body] for _, body in self.model.posts}
        for post_id in live:
            assert self.events[ADDED, post_id] == 1, (
                f"{self.strategy}: post {post_id} announced ADDED {self.events[ADDED, post_id]} times"
            )
        for (kind, post_id), times in self.events.items():
            if kind == ADDED:
                assert post_id in live or post_id in self.deleted, f"ADDED for unknown post {post_id}"
                assert times <= 1, f"{self.strategy}: deleted post {post_id} announced ADDED {times} times"
            else:
                assert kind == REMOVED and post_id in self.deleted, (
                    f"REMOVED for a post not deleted: {post_id}"
                )
                assert times <= 1, f"{self.strategy}: post {post_id} announced REMOVED {times} times"

    async def _read_all(self, viewer: UserId) -> list[str]:
        """Page through the whole timeline two posts at a time, as a client would."""
        feed, posts = self.api.feed, self.api.backends.posts
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
        for queue in (self.worker_real.queue, self.worker_real.bulk_queue):
            assert self.run(queue.depth()).dead == 0

    def teardown(self) -> None:
        try:
            self.converge_and_compare()
        finally:
            try:
                self.run(self.listening.aclose())
                self.run(self.close_backends(self.api_real))
                self.run(self.close_backends(self.worker_real))
                self.run(self.remove_stores())
            finally:
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
    values["max_examples"] = examples(values["max_examples"])  # more when soaking

    def apply(machine: type[ConcurrentFanout]) -> Any:
        case = machine.TestCase
        case.settings = hypothesis_settings(**values)
        return case

    return apply
