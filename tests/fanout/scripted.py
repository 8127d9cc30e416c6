"""Fan-out driven by hand: users made straight in the store, a lane's tasks taken and
handed to the handler by the test, the live events a piece of work publishes counted, and
the timeline rows it writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from murmur.domain import User, UserId, id_time
from murmur.events import codec
from murmur.events.v1 import events_pb2 as pb
from murmur.metrics import DELIVERIES
from murmur.platform import Platform


async def user(platform: Platform, name: str) -> UserId:
    user_id = UserId(platform.ids.next_id())
    await platform.backends.users.create_user(
        user=User(id=user_id, username=name, display_name=name, bio="", created_at=id_time(user_id)),
        password_hash="unused",
    )
    return user_id


async def take_all(platform: Platform, *, bulk: bool) -> list[bytes]:
    """The bodies waiting in a lane, acknowledged: the test hands them to the handler itself."""
    queue = platform.backends.bulk_queue if bulk else platform.backends.queue
    messages = await queue.receive(max_messages=100, wait_seconds=0)
    await queue.ack(receipts=[m.receipt for m in messages])
    return [m.body for m in messages]


async def added_events(platform: Platform, author: UserId, work: Callable[[], Awaitable[None]]) -> int:
    """How many ADDED events the author's channel carries while `work` runs."""
    bus, channel = platform.backends.bus, codec.author_channel(author)
    end = b"end of the test's work"
    added = 0
    async with bus.subscribe(channels=[channel]) as subscription:
        await work()
        await bus.publish(channel=channel, message=end)  # the bus keeps order: read up to it
        async for _, message in subscription:
            if message == end:
                return added
            added += codec.decode_timeline_event(message).kind == pb.TimelineEvent.KIND_ADDED
    raise AssertionError("the subscription ended before the test's last message")


def deliveries() -> float:
    """Timeline rows fan-out has written so far in this process, every strategy (one per
    entry added to one owner's timeline)."""
    return sum(s.value for m in DELIVERIES.collect() for s in m.samples if s.name.endswith("_total"))
