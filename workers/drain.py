"""Run fan-out until both lanes are empty: for tests, the seeder and benchmarks."""

from __future__ import annotations

from murmur.platform import Platform
from workers.pool import consumer_for


async def drain(platform: Platform, *, max_rounds: int = 1_000_000) -> int:
    """Publish pending outbox messages and handle queued tasks until none are left.

    Returns the number of messages handled. Messages waiting on a retry delay
    are not waited for.
    """
    consumer = consumer_for(platform)
    handled = 0
    await platform.feed.relay_outbox(older_than_seconds=0.0, limit=10_000)
    for _ in range(max_rounds):
        got = await consumer.poll_once(wait_seconds=0.0)
        if got == 0:
            break
        handled += got
    return handled
