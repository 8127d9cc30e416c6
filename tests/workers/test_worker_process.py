"""`murmur worker` as Kubernetes runs it: probes on its own port, and SIGTERM as a drain.

On SIGTERM a worker stops taking messages, finishes the one in hand, hands the rest
back at once (not after their leases) and exits 0; another worker then finishes the
fan-out, with nothing lost and nothing twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from murmur.domain import User, UserId, id_time
from murmur.settings import FanoutWorkerSettings, Profile, Settings, Strategy
from tests.servers._process import free_port
from tests.support import make_settings, open_test_platform
from workers.drain import drain

FOLLOWERS = 2000
CHUNK = 20
LEASE_SECONDS = 30  # long: a message that came back did so because it was released


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.parametrize("grace", ["10", "0"], ids=["finishes-in-hand", "grace-runs-out"])
async def test_sigterm_finishes_or_releases_what_it_holds_and_exits_0(tmp_path: Path, grace: str) -> None:
    """With a grace period the chunks in hand are finished; with none they are cut off
    mid-write and handed back. Either way nothing stays leased, and it exits 0."""
    settings = make_settings(
        tmp_path,
        strategy=Strategy.PUSH,
        workers={"followers_page_size": CHUNK, "visibility_timeout_seconds": LEASE_SECONDS},
    )
    port = free_port()
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
        task, planned = f"{post.id}:add", FOLLOWERS // CHUNK

        env = {
            **os.environ,
            "MURMUR_DATA_DIR": str(tmp_path),
            "MURMUR_FANOUT": "push",
            "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": str(CHUNK),
            "MURMUR_WORKERS__VISIBILITY_TIMEOUT_SECONDS": str(LEASE_SECONDS),
            "MURMUR_WORKERS__HTTP_PORT": str(port),
            "MURMUR_WORKERS__SHUTDOWN_GRACE_SECONDS": grace,
        }
        log_path = tmp_path / "worker.log"
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api.cli",
            "worker",
            "--concurrency",
            "2",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_path.open("wb"),
        )
        try:

            async def some_chunks_done() -> None:
                while len(await b.ledger.done(task=task)) < 5:  # noqa: ASYNC110 - another process's progress
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(some_chunks_done(), timeout=60)
            base = f"http://127.0.0.1:{port}"
            assert (await asyncio.to_thread(get, f"{base}/healthz"))[0] == 200
            assert (await asyncio.to_thread(get, f"{base}/readyz"))[0] == 200
            status, metrics = await asyncio.to_thread(get, f"{base}/metrics")
            assert status == 200 and 'murmur_queue_messages_total{lane="bulk",outcome="done"}' in metrics
            assert "murmur_fanout_chunk_seconds_bucket" in metrics

            stopping = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(worker.wait(), timeout=15) == 0
            took = time.monotonic() - stopping
        finally:
            if worker.returncode is None:
                worker.kill()
        done = len(await b.ledger.done(task=task))
        assert done < planned, "the worker finished before it was stopped: nothing was in hand"
        bulk = await b.bulk_queue.depth()
        # What it held was handed back at once, not left to its lease. A chunk that failed on a
        # loaded machine is put back with a retry delay instead, which a queue counts as in
        # flight too: the log says so, one line each.
        log_text = log_path.read_text(errors="replace")
        retried = log_text.count("; retrying")
        # the embedded bus is this process's own: it says so, once, at start
        assert log_text.count("live events of fan-outs this worker completes stay in this process") == 1
        assert bulk.in_flight == retried, log_path.read_text(errors="replace")[-3000:]
        assert planned - done - retried <= bulk.visible <= planned - done + 2  # + finished, not yet acked
        assert took < LEASE_SECONDS / 2

        await drain(platform)
        sizes = await b.timelines.timeline_sizes(owners=[author, *followers])
        assert set(sizes.values()) == {1}
        assert await b.ledger.done(task=task) == set(range(planned))


def test_the_worker_needs_no_jwt_secret_where_the_api_does() -> None:
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings(profile=Profile.CLOUD)
    assert FanoutWorkerSettings(profile=Profile.CLOUD).auth.jwt_secret is None
    with pytest.raises(ValueError, match="at least 32"):  # one given must still be a good one
        FanoutWorkerSettings(profile=Profile.CLOUD, auth={"jwt_secret": "short"})
