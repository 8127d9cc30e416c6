from pathlib import Path

from murmur.domain import UserId
from murmur.seed import seed_if_empty
from murmur.settings import Strategy
from tests.support import make_settings, open_test_platform


async def test_the_demo_world_is_seeded_once_with_timelines_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, strategy=Strategy.PUSH, seed={"enabled": True, "users": 60})
    async with open_test_platform(settings) as platform:
        report = await seed_if_empty(platform)
        assert report is not None
        assert report.users == 60 and report.follows > 60 * 10 * 0.8 and report.posts > 0
        session = await platform.accounts.login(username="demo", password=settings.seed.demo_password)
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
