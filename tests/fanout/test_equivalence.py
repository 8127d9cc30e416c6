"""After fan-out converges, push, pull and hybrid return the same timelines — and the
timeline a model computes from first principles — for any sequence of operations.

A hypothesis state machine drives random register/follow/unfollow/post/delete
sequences against three platforms (one per strategy, each on its own SQLite
file), draining the fan-out queues at random points and comparing every
timeline, page by page, when it does. A tiny cap makes trimming, unfollow and
delete interact; hybrid's threshold of 1 follower mixes pushed and pulled posts,
and authors cross it in both directions as follows come and go.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from murmur.domain import CannotFollowSelf, Post, UserId
from murmur.platform import Platform, assemble
from murmur.settings import Settings, Strategy
from murmur.storage.factory import open_backends
from workers.drain import drain

STRATEGIES = (Strategy.PUSH, Strategy.PULL, Strategy.HYBRID, Strategy.COST_MODEL)
MAX_USERS = 5


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


class FanoutEquivalence(RuleBasedStateMachine):
    cap = 5

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="murmur-equivalence-"))
        self.platforms: dict[Strategy, Platform] = {}
        for strategy in STRATEGIES:
            settings = Settings(
                data_dir=self.tmp / strategy.value,
                fanout=strategy,
                hybrid_threshold=1,
                timeline_max=self.cap,
                auth={"hash_time_cost": 1, "hash_memory_kib": 8},
                seed={"enabled": False},
                workers={"followers_page_size": 2},  # several pages per post
                # rates that change within the run and a decision per post: the cost
                # model's deliveries change as the machine reads and writes
                cost_model={"half_life_seconds": 0.2, "remember_seconds": 0},
                heal_reads=False,  # the timelines fan-out left, unhealed
            )
            backends = self.loop.run_until_complete(open_backends(settings))
            self.platforms[strategy] = assemble(settings, backends)
        self.model = Model(self.cap)
        self.users: dict[Strategy, list[UserId]] = {s: [] for s in STRATEGIES}
        self.post_ids: dict[Strategy, dict[str, str]] = {s: {} for s in STRATEGIES}  # body -> id
        self.counter = 0

    def run(self, coroutine_factory):  # type: ignore[no-untyped-def]
        return [self.loop.run_until_complete(coroutine_factory(s, p)) for s, p in self.platforms.items()]

    @precondition(lambda self: len(self.users[Strategy.PUSH]) < MAX_USERS)
    @rule()
    def register(self) -> None:
        name = f"user{len(self.users[Strategy.PUSH])}"

        async def go(strategy: Strategy, platform: Platform) -> None:
            session = await platform.accounts.register(username=name, password="correct-horse")
            self.users[strategy].append(session.user.id)

        self.run(go)

    # Rules draw plain indices and reduce them modulo what exists, so what hypothesis
    # generates never depends on the state (which keeps shrinking deterministic).
    @precondition(lambda self: len(self.users[Strategy.PUSH]) >= 1)
    @rule(a=st.integers(0, MAX_USERS - 1), b=st.integers(0, MAX_USERS - 1))
    def follow(self, a: int, b: int) -> None:
        n = len(self.users[Strategy.PUSH])
        a, b = a % n, b % n

        async def go(strategy: Strategy, platform: Platform) -> bool:
            try:
                await platform.feed.follow(viewer=self.users[strategy][a], target=self.users[strategy][b])
            except CannotFollowSelf:
                return False
            return True

        assert self.run(go) == [a != b] * len(STRATEGIES)
        if a != b:
            self.model.follows.add((a, b))

    @precondition(lambda self: len(self.model.follows) >= 1)
    @rule(index=st.integers(0, 100))
    def unfollow(self, index: int) -> None:
        edges = sorted(self.model.follows)
        a, b = edges[index % len(edges)]

        async def go(strategy: Strategy, platform: Platform) -> None:
            await platform.feed.unfollow(viewer=self.users[strategy][a], target=self.users[strategy][b])

        self.run(go)
        self.model.follows.discard((a, b))

    @precondition(lambda self: len(self.users[Strategy.PUSH]) >= 1)
    @rule(author=st.integers(0, MAX_USERS - 1), count=st.integers(1, 4))
    def post(self, author: int, count: int) -> None:
        """A burst of posts, so timelines overflow the cap often."""
        author %= len(self.users[Strategy.PUSH])
        for _ in range(count):
            self.counter += 1
            body = f"post {self.counter}"

            async def go(strategy: Strategy, platform: Platform, body: str = body) -> None:
                post: Post = await platform.feed.create_post(author=self.users[strategy][author], body=body)
                self.post_ids[strategy][body] = post.id

            self.run(go)
            self.model.posts.append((author, body))

    @precondition(lambda self: len(self.model.posts) >= 1)
    @rule(index=st.integers(0, 100))
    def delete(self, index: int) -> None:
        author, body = self.model.posts[index % len(self.model.posts)]

        async def go(strategy: Strategy, platform: Platform) -> None:
            post_id = self.post_ids[strategy].pop(body)
            await platform.feed.delete_post(viewer=self.users[strategy][author], post_id=post_id)

        self.run(go)
        self.model.posts.remove((author, body))

    @rule()
    def converge_and_compare(self) -> None:
        self.run(lambda _s, platform: drain(platform))
        for owner in range(len(self.users[Strategy.PUSH])):
            expected = self.model.timeline(owner)
            for strategy, platform in self.platforms.items():
                got = self.loop.run_until_complete(self._read_all(platform, self.users[strategy][owner]))
                assert got == expected, f"{strategy} timeline of user{owner}: {got} != {expected}"

    @invariant()
    def nothing_dead_lettered(self) -> None:
        for platform in self.platforms.values():
            depth = self.loop.run_until_complete(platform.backends.queue.depth())
            assert depth.dead == 0

    async def _read_all(self, platform: Platform, viewer: UserId) -> list[str]:
        """Page through the whole timeline two posts at a time, as a client would."""
        bodies: list[str] = []
        after, start = None, 0
        while True:
            page = await platform.feed.home_timeline(viewer=viewer, after=after, start=start, first=2)
            posts = await platform.backends.posts.posts_by_id(ids=page.post_ids)
            bodies.extend(posts[post_id].body for post_id in page.post_ids)
            if not page.has_next:
                return bodies
            after, start = page.post_ids[-1], start + len(page.post_ids)

    def teardown(self) -> None:
        self.converge_and_compare()
        for platform in self.platforms.values():
            self.loop.run_until_complete(platform.backends.close())
        self.loop.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class FanoutEquivalenceLargerCap(FanoutEquivalence):
    cap = 12


_settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
TestFanoutEquivalence = FanoutEquivalence.TestCase
TestFanoutEquivalence.settings = _settings
TestFanoutEquivalenceLargerCap = FanoutEquivalenceLargerCap.TestCase
TestFanoutEquivalenceLargerCap.settings = settings(_settings, max_examples=15)
