"""A small demo world for a first start: users with a realistic follow graph, and posts.

Written straight to the stores (one shared password hash, follows without
queue tasks, outbox messages marked published) and then every materialised
timeline is rebuilt once, which is much faster than replaying each write
through fan-out and ends in the same state.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from murmur.auth import Passwords
from murmur.domain import Post, PostId, User, UserId
from murmur.events import codec
from murmur.platform import Platform
from murmur.socialgraph import Tier, follow_edges, tiers_of
from murmur.storage.base import OutboxMessage

log = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
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
    demo_password: str


async def seed_if_empty(platform: Platform) -> SeedReport | None:
    """Seed the demo world unless the store already holds users."""
    if await platform.backends.users.count_users() > 0:
        return None
    return await seed_demo_world(platform, seed=7)


async def seed_demo_world(platform: Platform, *, seed: int) -> SeedReport:
    started = time.perf_counter()
    settings = platform.settings
    b = platform.backends
    rng = random.Random(seed)
    n = settings.seed.users
    passwords = Passwords(time_cost=settings.auth.hash_time_cost, memory_kib=settings.auth.hash_memory_kib)
    password_hash = await passwords.hash(settings.seed.demo_password)  # every demo user shares it
    ids: list[UserId] = []
    now = datetime.now(UTC)
    log.info("seeding a demo world of %d users", n)
    for i in range(n):
        joined = now - timedelta(days=30, seconds=rng.randrange(86_400))
        user_id = UserId(platform.ids.next_id(at=joined))
        username = DEMO_USERNAME if i == 0 else f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NOUNS)}{i}"
        await b.users.create_user(
            user=User(
                id=user_id,
                username=username,
                display_name=username.replace("_", " ").title(),
                bio="",
                created_at=joined,
            ),
            password_hash=password_hash,
        )
        ids.append(user_id)

    edges = set(follow_edges(n, seed=seed))
    # the demo user follows every celebrity, so its timeline shows all tiers
    edges |= {(0, j) for j, tier in enumerate(tiers_of(n, seed=seed)) if tier is Tier.CELEBRITY and j != 0}
    for follower, followee in edges:
        await b.graph.follow(follower=ids[follower], followee=ids[followee])
    log.info("seeded %d follows", len(edges))

    posts = 0
    for author in ids:
        delivery = await platform.feed.strategy.delivery_for(author_id=author)
        for _ in range(rng.randint(0, 2 * settings.seed.posts_per_user)):
            at = now - timedelta(seconds=rng.randrange(7 * 86_400))
            post_id = PostId(platform.ids.next_id(at=at))
            body = rng.choice(_TEMPLATES).format(t=rng.choice(_TOPICS))
            outbox = OutboxMessage(
                id=f"{post_id}:created", body=codec.post_created(post_id, author, delivery)
            )
            await b.posts.create_post(
                post=Post(id=post_id, author_id=author, body=body, created_at=at, delivery=delivery),
                outbox=outbox,
            )
            # the rebuild below delivers it: a relay running meanwhile must not publish it too
            await b.posts.outbox_published(ids=[outbox.id])
            posts += 1
    if platform.feed.strategy.materialises:
        for owner in ids:
            await platform.fanout.repair.rebuild(owner)
    report = SeedReport(
        users=n,
        follows=len(edges),
        posts=posts,
        seconds=time.perf_counter() - started,
        demo_username=DEMO_USERNAME,
        demo_password=settings.seed.demo_password,
    )
    log.info("seeded %d users, %d follows, %d posts in %.1f s", n, len(edges), posts, report.seconds)
    return report
