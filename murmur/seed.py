"""A small demo world for a first start: users with a realistic follow graph, and posts.

Written straight to the stores (one shared password hash, follows without
queue tasks, outbox messages marked published) and then every materialised
timeline is rebuilt once, which is much faster than replaying each write
through fan-out and ends in the same state.

The demo user is written last, after the timelines: it is the mark of a finished seed.
A seed interrupted part-way (Ctrl-C, a crash) finishes on the next start: the store holds
the seed's first user but no demo user, and the plan is made again exactly as it was (the
same random draws, the same time anchor and id node, read back from that first user), so
the writes skip what is there and add only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from murmur.auth import Passwords
from murmur.domain import (
    NODES,
    SEQUENCE_BITS,
    IdGenerator,
    IdTaken,
    Post,
    PostId,
    StoreError,
    User,
    UserId,
    UsernameTaken,
)
from murmur.events import codec
from murmur.platform import Platform
from murmur.settings import DEMO_USERNAME
from murmur.socialgraph import Tier, follow_edges, tiers_of
from murmur.storage.base import OutboxMessage

log = logging.getLogger(__name__)

_ADJECTIVES = ("quiet", "brisk", "sunny", "lucid", "mellow", "nimble", "curious", "bold", "gentle", "witty")
_NOUNS = ("otter", "falcon", "maple", "harbor", "comet", "willow", "ember", "canyon", "lark", "pebble")
_TOPICS = (
    "coffee",
    "the deploy",
    "a new paper",
    "my garden",
    "the game last night",
    "rust vs python",
    "a long run",
    "the weekend",
    "that outage",
    "a good book",
)
_TEMPLATES = (
    "Thinking about {t} again.",
    "Hot take on {t}: it is underrated.",
    "Anyone else into {t}?",
    "Spent the morning on {t}.",
    "Small win today with {t}.",
    "Notes on {t}, thread soon.",
)


@dataclass(frozen=True, slots=True)
class SeedReport:
    users: int
    follows: int
    posts: int
    seconds: float
    demo_username: str


SEED = 7
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 1.0, 30.0


async def seed_if_empty(
    platform: Platform, *, retry_first: float = RETRY_FIRST_SECONDS, retry_max: float = RETRY_MAX_SECONDS
) -> SeedReport | None:
    """Seed the demo world unless the store holds a finished one (or users of its own), and
    finish a seed an earlier process began and did not end. A store failing part-way
    (down, restarting) pauses the seeding, which then resumes the same plan where it
    stopped, waiting longer after each failure, for as long as the process runs."""
    plan: SeedPlan | None = None
    wait = retry_first
    while True:
        try:
            if plan is None:
                plan = await unfinished_plan(platform)
                if plan is None:
                    return None
            return await seed_demo_world(platform, seed=SEED, plan=plan)
        except StoreError as exc:
            log.warning("seeding paused, a store failed (%s): resuming in %.0f s", exc, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, retry_max)


async def unfinished_plan(platform: Platform) -> SeedPlan | None:
    """The plan to write: a new one for an empty store, the one an interrupted seed was
    writing, or None when there is nothing to seed (the demo user, written last, exists;
    or the store holds users that are not the seed's)."""
    users = platform.backends.users
    if await users.user_by_username(username=DEMO_USERNAME) is not None:
        return None
    plan = await SeedPlan.make(platform, seed=SEED)
    if await users.count_users() == 0:
        return plan
    first = plan.users[_FIRST_WRITTEN]
    begun = await users.user_by_username(username=first.username)
    if begun is None:
        return None
    # the draws do not depend on the time: the anchor is the first user's join time plus
    # the same offset as in this plan, and the node is the one its id was minted with
    anchor = begun.created_at + (plan.anchor - first.joined)
    node = (int(begun.id) >> SEQUENCE_BITS) % NODES
    log.info("finishing the demo world an earlier start began seeding")
    return await SeedPlan.make(platform, seed=SEED, anchor=anchor, node=node)


_FIRST_WRITTEN = 1  # the plan's users are written from the second on; the demo user last


@dataclass(frozen=True, slots=True)
class _PlannedUser:
    id: UserId
    username: str
    joined: datetime


@dataclass(frozen=True, slots=True)
class _PlannedPost:
    author: int  # index into the plan's users
    id: PostId
    at: datetime
    body: str


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """Everything the seed writes, decided up front: ids included, so writing it again after
    a failure (a store that went away) skips what is there and adds only what is missing."""

    users: list[_PlannedUser]
    edges: list[tuple[int, int]]
    posts: list[_PlannedPost]
    anchor: datetime  # "now" for the plan: every time in it is this minus a drawn offset

    @classmethod
    async def make(
        cls, platform: Platform, *, seed: int, anchor: datetime | None = None, node: int | None = None
    ) -> SeedPlan:
        """The plan for `seed`; the same anchor and node give the same plan, ids included
        (whole milliseconds, as the stores keep times)."""
        settings, rng = platform.settings, random.Random(seed)
        if anchor is None:
            moment = datetime.now(UTC)
            anchor = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        now = anchor
        ids = IdGenerator(platform.ids.node if node is None else node)  # backdated ids only
        n = settings.seed.users
        users = []
        for i in range(n):
            joined = now - timedelta(days=30, seconds=rng.randrange(86_400))
            username = DEMO_USERNAME if i == 0 else f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NOUNS)}{i}"
            users.append(_PlannedUser(UserId(ids.next_id(at=joined)), username, joined))
        edges = set(follow_edges(n, seed=seed))
        # the demo user follows every celebrity, so its timeline shows all tiers
        edges |= {
            (0, j) for j, tier in enumerate(tiers_of(n, seed=seed)) if tier is Tier.CELEBRITY and j != 0
        }
        posts = []
        for author in range(n):
            for _ in range(rng.randint(0, 2 * settings.seed.posts_per_user)):
                at = now - timedelta(seconds=rng.randrange(7 * 86_400))
                body = rng.choice(_TEMPLATES).format(t=rng.choice(_TOPICS))
                posts.append(_PlannedPost(author, PostId(ids.next_id(at=at)), at, body))
        return cls(users=users, edges=sorted(edges), posts=posts, anchor=anchor)


async def seed_demo_world(platform: Platform, *, seed: int, plan: SeedPlan | None = None) -> SeedReport:
    """Write the plan (a new one unless given). Every step is idempotent: given the plan of
    an earlier attempt that failed part-way, this finishes the same world."""
    started = time.perf_counter()
    settings, b = platform.settings, platform.backends
    plan = plan or await SeedPlan.make(platform, seed=seed)
    passwords = Passwords(time_cost=settings.auth.hash_time_cost, memory_kib=settings.auth.hash_memory_kib)
    password_hash = await passwords.hash(
        settings.seed.demo_password.get_secret_value()
    )  # every demo user shares it
    log.info("seeding a demo world of %d users", len(plan.users))
    # the demo user (the first planned) is written last, as the mark of a finished seed
    ids = [plan.users[0].id]
    ids += [await _user(platform, planned, password_hash) for planned in plan.users[1:]]
    for follower, followee in plan.edges:
        await b.graph.follow(follower=ids[follower], followee=ids[followee])
    log.info("seeded %d follows", len(plan.edges))
    deliveries = {}  # by author, decided once the follows are in (hybrid counts followers)
    for planned in plan.posts:
        author = ids[planned.author]
        if author not in deliveries:
            deliveries[author] = await platform.feed.strategy.delivery_for(author_id=author)
        delivery = deliveries[author]
        post = Post(
            id=planned.id, author_id=author, body=planned.body, created_at=planned.at, delivery=delivery
        )
        outbox = OutboxMessage(
            id=f"{planned.id}:created", body=codec.post_created(planned.id, author, delivery)
        )
        with contextlib.suppress(IdTaken):  # written by an earlier attempt
            await b.posts.create_post(post=post, outbox=outbox)
        # the rebuild below delivers it: a relay running meanwhile must not publish it too
        await b.posts.outbox_published(ids=[outbox.id])
    log.info("seeded %d posts", len(plan.posts))
    if platform.feed.strategy.materialises:
        for owner in ids:
            await platform.fanout.repair.rebuild(owner)
    await _user(platform, plan.users[0], password_hash)
    report = SeedReport(
        users=len(plan.users),
        follows=len(plan.edges),
        posts=len(plan.posts),
        seconds=time.perf_counter() - started,
        demo_username=DEMO_USERNAME,
    )
    log.info(
        "seeded %d users, %d follows, %d posts in %.1f s",
        report.users,
        report.follows,
        report.posts,
        report.seconds,
    )
    return report


async def _user(platform: Platform, planned: _PlannedUser, password_hash: str) -> UserId:
    """The planned user's id, creating the user unless an earlier attempt did."""
    users = platform.backends.users
    user = User(
        id=planned.id,
        username=planned.username,
        display_name=planned.username.replace("_", " ").title(),
        bio="",
        created_at=planned.joined,
    )
    try:
        await users.create_user(user=user, password_hash=password_hash)
    except (UsernameTaken, IdTaken):
        existing = await users.user_by_username(username=planned.username)
        if existing is None:
            raise
        return existing.id
    return planned.id
