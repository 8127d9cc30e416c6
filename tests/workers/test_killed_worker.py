"""A worker process killed mid-fan-out loses nothing and duplicates nothing.

A real `murmur worker` process fans a post out to 3,000 followers one small page
at a time and is SIGKILLed part-way; the messages it held reappear after the
visibility timeout and another worker finishes the job. The timeline store's
key (owner, post) makes the redelivered pages idempotent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from murmur.domain import User, UserId, id_time
from murmur.settings import Strategy
from tests.support import make_settings, open_test_platform
from workers.drain import drain

FOLLOWERS = 3000


async def test_killing_a_worker_mid_fanout_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    worker_env = {
        "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": "50",
        "MURMUR_WORKERS__VISIBILITY_TIMEOUT_SECONDS": "2",
        "MURMUR_WORKERS__BATCH_SIZE": "1",
    }
    settings = make_settings(
        tmp_path,
        strategy=Strategy.PUSH,
        workers={"followers_page_size": 50, "visibility_timeout_seconds": 2, "batch_size": 1},
    )
    async with open_test_platform(settings) as platform:
        b = platform.backends
        author = UserId(platform.ids.next_id())
        await b.users.create_user(
            user=User(id=author, username="star", display_name="Star", bio="", created_at=id_time(author)),
            password_hash="unused",
        )
        followers = [UserId(platform.ids.next_id()) for _ in range(FOLLOWERS)]
        for follower in followers:
            await b.graph.follow(follower=follower, followee=author)
        post = await platform.feed.create_post(author=author, body="to everyone")

        env = {**os.environ, **worker_env, "MURMUR_DATA_DIR": str(tmp_path), "MURMUR_FANOUT": "push"}
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "worker",
            "--concurrency",
            "1",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            # kill it once it has delivered some pages but not all
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                delivered = sum((await b.timelines.timeline_sizes(owners=followers)).values())
                if delivered >= 500:
                    break
                await asyncio.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)
            await asyncio.wait_for(worker.wait(), timeout=10)
        finally:
            if worker.returncode is None:
                worker.kill()
        assert 500 <= delivered < FOLLOWERS, "the worker was not killed mid-fan-out"
        depth = await b.queue.depth()
        assert depth.visible + depth.in_flight >= 1  # the rest of the fan-out waits in the queue

        await asyncio.sleep(2.2)  # the lease runs out
        await drain(platform)
        owners = [author, *followers]
        sizes = await b.timelines.timeline_sizes(owners=owners)
        assert [sizes.get(owner, 0) for owner in owners] == [1] * len(owners), "each holds the post once"
        for owner in (author, followers[0], followers[-1]):
            entries = await b.timelines.timeline(owner=owner, before=None, limit=5)
            assert [e.post_id for e in entries] == [post.id]
        depth = await b.queue.depth()
        assert (depth.visible, depth.in_flight, depth.dead) == (0, 0, 0)
