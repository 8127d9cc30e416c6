"""Issue 17: a first start stopped while it seeds (Ctrl-C) leaves a world that the next start
finishes, the same world an uninterrupted seed makes; readiness waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from murmur.domain import UserId
from murmur.platform import Platform
from murmur.seed import seed_if_empty
from murmur.settings import DEMO_USERNAME, Settings, Strategy
from murmur.storage.sqlite import SqliteDatabase
from tests.support import make_settings, open_test_platform

USERS = 30


def settings_for(data_dir: Path, node: int) -> Settings:
    return make_settings(
        data_dir,
        strategy=Strategy.PUSH,
        seed={"enabled": True, "users": USERS},
        workers={"in_process": 0},
        node_id=node,  # a restarted process may well have another node
    )


async def world(platform: Platform) -> dict[str, Any]:
    """The world as a reader sees it, by names rather than ids (ids carry the time)."""
    b = platform.backends
    db = b.resources[0]
    assert isinstance(db, SqliteDatabase)
    rows = await db.fetchall("SELECT id, username FROM users")
    names = {UserId(str(row[0])): str(row[1]) for row in rows}
    follows = await db.fetchall("SELECT follower, followee FROM follows")
    timelines = {}
    for user_id, name in names.items():
        entries = await b.timelines.timeline(owner=user_id, before=None, limit=platform.settings.timeline_max)
        posts = await b.posts.posts_by_id(ids=[e.post_id for e in entries])
        timelines[name] = [(names[posts[e.post_id].author_id], posts[e.post_id].body) for e in entries]
    return {
        "users": sorted(names.values()),
        "follows": sorted((names[UserId(str(a))], names[UserId(str(b))]) for a, b in follows),
        "posts": await b.posts.count_posts(),
        "unsent outbox": await db.fetchone("SELECT count(*) FROM outbox"),
        "timelines": timelines,
    }


def hold_at(
    monkeypatch: pytest.MonkeyPatch, store: object, method: str, call: int
) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the `call`-th call of store.method wait at its start until released; returns
    (reached, release)."""
    real: Callable[..., Awaitable[Any]] = getattr(store, method)
    reached, release, seen = asyncio.Event(), asyncio.Event(), 0

    async def held(**kwargs: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen == call:
            reached.set()
            await release.wait()
        return await real(**kwargs)

    monkeypatch.setattr(store, method, held)
    return reached, release


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    async def seeded() -> dict[str, Any]:
        async with open_test_platform(settings_for(tmp_path_factory.mktemp("reference"), 5)) as platform:
            assert await seed_if_empty(platform) is not None
            seeded = await world(platform)
            assert seeded["posts"] > 0 and len(seeded["users"]) == USERS
            assert seeded["timelines"][DEMO_USERNAME]  # the comparison has something to compare
            return seeded

    return asyncio.run(seeded())


# (store, method, call): where Ctrl-C lands
POINTS = [
    ("users", "create_user", 4),  # among the users
    ("graph", "follow", 60),  # among the follows
    ("posts", "create_post", 15),  # among the posts
    ("posts", "outbox_published", 15),  # a post written, its outbox message not yet marked
    ("timelines", "rebuild", 7),  # among the timelines
    ("users", "create_user", USERS),  # the last write: the demo user
]


@pytest.mark.parametrize(("store", "method", "call"), POINTS)
async def test_an_interrupted_seed_is_finished_by_the_next_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reference: dict[str, Any],
    store: str,
    method: str,
    call: int,
) -> None:
    # first start: Ctrl-C while the seed is at `call` (the lifespan's shutdown cancels it)
    first = settings_for(tmp_path, node=11)
    async with open_test_platform(first) as platform:
        reached, _ = hold_at(monkeypatch, getattr(platform.backends, store), method, call)
        app = create_app(first, platform=platform)
        async with app.router.lifespan_context(app):
            seeding = app.state.runtime._seeding
            await asyncio.wait(
                [asyncio.ensure_future(reached.wait()), seeding], return_when="FIRST_COMPLETED"
            )
            assert reached.is_set() and not seeding.done()
        assert seeding.cancelled()
        monkeypatch.undo()
        assert await platform.backends.users.user_by_username(username=DEMO_USERNAME) is None

    # second start, another node: not ready until the seed is finished, then the same world
    second = settings_for(tmp_path, node=12)
    async with open_test_platform(second) as platform:
        reached, release = hold_at(monkeypatch, platform.backends.timelines, "rebuild", 1)
        app = create_app(second, platform=platform)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://murmur") as http,
        ):
            seeding = app.state.runtime._seeding
            await asyncio.wait(
                [asyncio.ensure_future(reached.wait()), seeding], return_when="FIRST_COMPLETED"
            )
            assert reached.is_set(), "the second start did not resume the seed"
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503 and waiting.json()["seed"] == "running"
            release.set()
            await seeding
            ready = await http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["seed"] == "done"
            assert await world(platform) == reference
            session = await platform.accounts.login(
                username=DEMO_USERNAME, password=second.seed.demo_password.get_secret_value()
            )
            assert session.user.username == DEMO_USERNAME


async def test_a_store_with_users_of_its_own_is_not_seeded(tmp_path: Path) -> None:
    async with open_test_platform(settings_for(tmp_path, node=3)) as platform:
        await platform.accounts.register(username="someone", password="correct-horse")
        assert await seed_if_empty(platform) is None
        assert await platform.backends.users.count_users() == 1
