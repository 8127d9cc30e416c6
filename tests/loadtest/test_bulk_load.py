"""Loading a generated world: the SQLite file path and the stores' bulk path both end in the
state fan-out would have left, so every timeline reads as pull computes it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devstack.cloud import CloudServers, StoreNames, cloud_env, new_jwt_secret
from loadtest.graph import GraphSpec, World, generate
from loadtest.load import LoadReport, load_world, materialised_timelines
from murmur.domain import Delivery, UserId
from murmur.fanout.pull import PullStrategy
from murmur.fanout.sources import Sources
from murmur.platform import Platform, assemble
from murmur.settings import Settings, Strategy
from murmur.storage.factory import open_backends
from murmur.storage.memory import NoCache
from murmur.storage.sqlite.bulk import SqliteBulkLoader
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer
from workers.drain import drain

CAP = 20  # small, so many timelines are full and their floors matter


@pytest.fixture(scope="module")
def world() -> World:
    return generate(GraphSpec(users=200, seed=11, history_days=4))


def settings_for(data_dir: Path, strategy: Strategy, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "fanout": strategy,
        "hybrid_threshold": 60,
        "timeline_max": CAP,
        "auth": {"hash_time_cost": 1, "hash_memory_kib": 8},
        "seed": {"enabled": False, "demo_password": "generated-pass"},
        **overrides,
    }
    return Settings(**values)


async def loaded(world: World, settings: Settings) -> tuple[Platform, LoadReport]:
    phases: dict[str, int] = {}

    def advance(phase: str, rows: int) -> None:
        phases[phase] = phases.get(phase, 0) + rows

    report = await load_world(world, settings, advance)
    assert (
        phases["users"] == world.users and phases["follows"] == world.edges and phases["posts"] == world.posts
    )
    return assemble(settings, await open_backends(settings)), report


async def every_timeline_is_what_pull_computes(platform: Platform, world: World) -> int:
    """Compare each user's timeline under the platform's strategy with a pull read over the
    same stores; returns how many entries were compared."""
    b = platform.backends
    pull = PullStrategy(sources=Sources(graph=b.graph, posts=b.posts, cache=NoCache()), posts=b.posts)
    compared = 0
    for user_id in world.user_ids:
        viewer = UserId(user_id)
        got = await platform.feed.strategy.read(viewer=viewer, before=None, limit=CAP)
        expected = await pull.read(viewer=viewer, before=None, limit=CAP)
        assert got == expected, f"the timeline of {viewer}"
        compared += len(got)
    return compared


@pytest.mark.parametrize("strategy", [Strategy.PUSH, Strategy.HYBRID, Strategy.PULL])
async def test_a_loaded_sqlite_file_serves_the_world(
    tmp_path: Path, world: World, strategy: Strategy
) -> None:
    platform, report = await loaded(world, settings_for(tmp_path, strategy))
    try:
        b = platform.backends
        assert report.path == "sqlite"
        assert await b.users.count_users() == world.users
        assert await b.posts.count_posts() == world.posts
        counts = await b.graph.follow_counts(user_ids=[UserId(i) for i in world.user_ids])
        assert [counts[UserId(i)].followers for i in world.user_ids] == world.followers_count.tolist()
        assert [counts[UserId(i)].following for i in world.user_ids] == world.following_count.tolist()
        star = world.user_ids[world.star_index() or 0]
        spans = await b.graph.follower_spans(user_id=UserId(star), size=50)
        found = [f for span in spans for f in await b.graph.followers_in(user_id=UserId(star), span=span)]
        assert len(found) == world.users - 1  # the follows' indexes were rebuilt after the load
        compared = await every_timeline_is_what_pull_computes(platform, world)
        assert compared > world.users  # most timelines hold something
        if strategy is Strategy.PULL:
            assert report.timeline_entries == 0
        else:
            assert report.timeline_entries == sum(
                len(t)
                for t in materialised_timelines(
                    world,
                    [Delivery.PUSHED if strategy is Strategy.PUSH else d for d in _hybrid_plan(world)],
                    cap=CAP,
                ).values()
            )
        # the generated users log in with the configured password
        session = await platform.accounts.login(username=world.usernames[5], password="generated-pass")
        assert session.user.username == world.usernames[5]
    finally:
        await platform.backends.close()


def _hybrid_plan(world: World) -> list[Delivery]:
    return [Delivery.PULLED if n > 60 else Delivery.PUSHED for n in world.followers_count.tolist()]


async def test_fan_out_continues_correctly_on_a_loaded_file(tmp_path: Path, world: World) -> None:
    """A post made after the load fans out to the loaded followers, and a refill below a
    loaded floor finds the loaded posts: the floors were written as fan-out writes them."""
    platform, _ = await loaded(
        world, settings_for(tmp_path, Strategy.PUSH, workers={"followers_page_size": 7})
    )
    try:
        author_index = int(world.followers_count.argmax())
        author = UserId(world.user_ids[author_index])
        post = await platform.feed.create_post(author=author, body="after the load")
        await drain(platform)
        follower = UserId(world.user_ids[int(world.follower[world.followee == author_index][0])])
        assert post.id in await platform.feed.strategy.read(viewer=follower, before=None, limit=CAP)
        await platform.feed.delete_post(viewer=author, post_id=post.id)
        await drain(platform)
        await every_timeline_is_what_pull_computes(platform, world)
    finally:
        await platform.backends.close()


def test_a_bulk_load_refuses_a_file_that_holds_users(tmp_path: Path, world: World) -> None:
    settings = settings_for(tmp_path, Strategy.PULL)
    asyncio.run(load_world(world, settings, lambda _p, _n: None))
    with pytest.raises(Exception, match="already holds users"):
        SqliteBulkLoader(settings.sqlite_path)


@pytest.fixture
async def cloud_settings(
    redis_server: RedisServer, moto_server: MotoServer, mongo_server: MongoServer, bolt_server: BoltServer
) -> AsyncIterator[dict[str, str]]:
    servers = CloudServers(redis=redis_server, moto=moto_server, mongo=mongo_server, bolt=bolt_server)
    env = cloud_env(servers, jwt_secret=new_jwt_secret(), names=StoreNames.unique())
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.backend
async def test_the_cloud_stores_take_the_same_world_through_their_bulk_methods(
    tmp_path: Path, cloud_settings: dict[str, str]
) -> None:
    small = generate(GraphSpec(users=60, seed=4, history_days=2))
    settings = settings_for(tmp_path, Strategy.HYBRID, profile="cloud", hybrid_threshold=20)
    assert settings.resolved_stores.graph == "neptune"
    platform, report = await loaded(small, settings)
    try:
        assert report.path == "stores"
        assert report.timeline_entries > 0
        assert await platform.backends.users.count_users() == small.users
        await every_timeline_is_what_pull_computes(platform, small)
    finally:
        await platform.backends.close()
