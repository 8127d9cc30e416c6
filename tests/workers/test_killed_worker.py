"""A worker process killed mid-fan-out loses nothing, duplicates nothing, and forks no work.

A real `murmur worker` process fans a post out to 3,000 followers in 60 planned chunks
of 50 and is SIGKILLed part-way. The chunk it held comes back when its lease runs out
and another consumer finishes the job. The test counts: every message ever enqueued
(the queue's ids are never reused), the chunks done in the ledger at the kill, and the
messages the finishing consumer handles. Handled work never exceeds what was planned
plus what the kill left in flight.
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
from murmur.storage.sqlite import SqliteDatabase
from tests.support import make_settings, open_test_platform
from workers.drain import drain

FOLLOWERS = 3000
CHUNK = 50
LEASE_SECONDS = 2


async def messages_ever_enqueued(db_path: Path) -> int:
    db = await SqliteDatabase.open(db_path, readers=1)
    try:
        row = await db.fetchone("SELECT seq FROM sqlite_sequence WHERE name = 'queue_messages'")
        return int(row[0]) if row else 0
    finally:
        await db.close()


async def test_killing_a_worker_mid_fanout_loses_duplicates_and_forks_nothing(tmp_path: Path) -> None:
    worker_env = {
        "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": str(CHUNK),
        "MURMUR_WORKERS__VISIBILITY_TIMEOUT_SECONDS": str(LEASE_SECONDS),
        "MURMUR_WORKERS__HTTP_PORT": "0",
    }
    settings = make_settings(
        tmp_path,
        strategy=Strategy.PUSH,
        workers={"followers_page_size": CHUNK, "visibility_timeout_seconds": LEASE_SECONDS},
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
        task = f"{post.id}:add"

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
            # kill it once it has done some chunks but not all
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done_at_kill = len(await b.ledger.done(task=task))
                if done_at_kill >= 10:
                    break
                await asyncio.sleep(0.02)
            os.kill(worker.pid, signal.SIGKILL)
            await asyncio.wait_for(worker.wait(), timeout=10)
        finally:
            if worker.returncode is None:
                worker.kill()
        done_at_kill = len(await b.ledger.done(task=task))
        planned = FOLLOWERS // CHUNK
        assert 10 <= done_at_kill < planned, "the worker was not killed mid-fan-out"
        bulk = await b.bulk_queue.depth()
        # one message per chunk left (and the one it finished, if it died before acknowledging)
        assert planned - done_at_kill <= bulk.visible + bulk.in_flight <= planned - done_at_kill + 1

        await asyncio.sleep(LEASE_SECONDS + 0.2)  # the chunk it held comes back
        handled = await drain(platform)

        # nothing lost, nothing twice: every timeline holds the post once
        owners = [author, *followers]
        sizes = await b.timelines.timeline_sizes(owners=owners)
        assert [sizes[owner] for owner in owners] == [1] * len(owners)
        assert await b.ledger.done(task=task) == set(range(planned))
        # no fork: one plan and one message per chunk were ever enqueued, however it went
        assert await messages_ever_enqueued(platform.settings.sqlite_path) == 1 + planned
        # handled <= planned + redelivered: the rest of the chunks, and at most the one in hand
        assert planned - done_at_kill <= handled <= planned - done_at_kill + 1
        for queue in (b.queue, b.bulk_queue):
            depth = await queue.depth()
            assert (depth.visible, depth.in_flight, depth.dead) == (0, 0, 0)
