"""A post is never left out of fan-out: not when publishing fails, not when the process dies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from murmur.domain import Delivery, Post, PostId, UserId, id_time
from murmur.events import codec
from murmur.settings import Strategy
from murmur.storage.base import OutboxMessage, Outgoing
from tests.support import make_settings, open_test_platform, register
from workers.drain import drain


async def test_a_post_saved_by_a_process_that_died_is_fanned_out_after_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, strategy=Strategy.PUSH)
    async with open_test_platform(settings) as platform:
        alice, bob = UserId(await register(platform, "alice")), UserId(await register(platform, "bob"))
        await platform.feed.follow(viewer=bob, target=alice)
        await drain(platform)
        # what create_post does up to the commit, then the process is gone
        post_id = PostId(platform.ids.next_id())
        outbox = OutboxMessage(
            id=f"{post_id}:created", body=codec.post_created(post_id, alice, Delivery.PUSHED)
        )
        await platform.backends.posts.create_post(
            post=Post(id=post_id, author_id=alice, body="survives", created_at=id_time(post_id)),
            outbox=outbox,
        )
    async with open_test_platform(settings) as restarted:
        assert await restarted.feed.relay_outbox(older_than_seconds=0) == 1
        await drain(restarted)
        entries = await restarted.backends.timelines.timeline(owner=bob, before=None, limit=10)
        assert [e.post_id for e in entries] == [post_id]
        assert await restarted.feed.relay_outbox(older_than_seconds=0) == 0  # published exactly once


async def test_a_post_whose_publish_fails_is_relayed_once_the_queue_is_back(tmp_path: Path) -> None:
    async with open_test_platform(make_settings(tmp_path, strategy=Strategy.PUSH)) as platform:
        alice, bob = UserId(await register(platform, "alice")), UserId(await register(platform, "bob"))
        await platform.feed.follow(viewer=bob, target=alice)
        await drain(platform)
        queue = platform.backends.queue
        real_send = queue.send

        async def unreachable(*, messages: Sequence[Outgoing]) -> None:
            raise ConnectionError("queue unreachable")

        queue.send = unreachable  # type: ignore[method-assign]
        post = await platform.feed.create_post(author=alice, body="while the queue is down")
        assert (await queue.depth()).visible == 0
        queue.send = real_send  # type: ignore[method-assign]
        assert await platform.feed.relay_outbox(older_than_seconds=0) == 1
        await drain(platform)
        entries = await platform.backends.timelines.timeline(owner=bob, before=None, limit=10)
        assert [e.post_id for e in entries] == [post.id]
