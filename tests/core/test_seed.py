from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from murmur.domain import RetryableStoreError, UserId
from murmur.seed import seed_if_empty
from murmur.settings import Strategy
from murmur.storage.sqlite import SqliteDatabase
from tests.support import make_settings, open_test_platform


async def test_the_demo_world_is_seeded_once_with_timelines_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, seed={"enabled": True, "users": 60})
    async with open_test_platform(settings) as platform:
        report = await seed_if_empty(platform)
        assert report is not None
        assert report.users == 60 and report.follows > 60 * 10 * 0.8 and report.posts > 0
        session = await platform.accounts.login(
            username="demo", password=settings.seed.demo_password.get_secret_value()
        )
        demo = UserId(session.user.id)
        counts = (await platform.backends.graph.follow_counts(user_ids=[demo]))[demo]
        assert counts.following > 0
        # the materialised timeline equals what pull computes from the same data
        page = await platform.feed.home_timeline(viewer=demo, after=None, start=0, first=50)
        authors = [
            demo,
            *(await platform.backends.graph.following(user_id=demo, after=None, limit=1000)).items,
        ]
        pulled = await platform.backends.posts.recent_posts(author_ids=authors, before=None, limit=50)
        assert page.post_ids == [p.id for p in pulled]
        assert page.post_ids
        assert await seed_if_empty(platform) is None  # never twice


async def test_a_store_failing_part_way_pauses_the_seeding_which_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faults in the real stores: writes lost before they land, and writes that land but
    whose answer is lost (the worst case for a retry); the world ends whole, nothing twice."""
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, seed={"enabled": True, "users": 40})
    async with open_test_platform(settings) as platform:
        b = platform.backends
        failures = [
            _fail_on(monkeypatch, b.users, "create_user", calls={7}, after_writing=True),
            _fail_on(monkeypatch, b.graph, "follow", calls={30, 31, 32}, after_writing=False),
            _fail_on(monkeypatch, b.posts, "create_post", calls={5}, after_writing=True),
        ]
        report = await seed_if_empty(platform, retry_first=0.01)
        assert report is not None and all(f.failed for f in failures)
        db = b.resources[0]
        assert isinstance(db, SqliteDatabase)
        assert await b.users.count_users() == report.users == 40
        assert await b.posts.count_posts() == report.posts
        assert await db.fetchone("SELECT count(*) FROM follows") == (report.follows,)
        assert await db.fetchone("SELECT count(*) FROM outbox") == (0,)  # nothing left for the relay to send
        session = await platform.accounts.login(
            username="demo", password=settings.seed.demo_password.get_secret_value()
        )
        page = await platform.feed.home_timeline(
            viewer=UserId(session.user.id), after=None, start=0, first=20
        )
        assert page.post_ids  # the timelines were rebuilt at the end


@dataclass
class _Fault:
    failed: bool = False


def _fail_on(
    monkeypatch: pytest.MonkeyPatch, store: object, method: str, *, calls: set[int], after_writing: bool
) -> _Fault:
    real, fault, seen = getattr(store, method), _Fault(), 0

    async def flaky(**kwargs: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen in calls:
            if after_writing:
                await real(**kwargs)
            fault.failed = True
            raise RetryableStoreError(f"{method}: the store went away (call {seen})")
        return await real(**kwargs)

    monkeypatch.setattr(store, method, flaky)
    return fault
