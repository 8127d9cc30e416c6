"""EventBus contract: subscribers get what is published on their channels, in order, while subscribed.

`subscribe` enters once the subscription is live (a networked bus waits for the server's
confirmation), so whatever is published after entering is delivered: no test waits first."""

from __future__ import annotations

import asyncio

from murmur.storage.base import EventBus, Subscription


async def take(subscription: Subscription, n: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []

    async def collect() -> None:
        async for item in subscription:
            got.append(item)
            if len(got) == n:
                return

    await asyncio.wait_for(collect(), timeout=5)
    return got


async def test_subscribers_get_their_channels_in_order(bus: EventBus) -> None:
    async with bus.subscribe(channels=["a", "b"]) as subscription:
        await bus.publish(channel="a", message=b"1")
        await bus.publish(channel="other", message=b"not for us")
        await bus.publish(channel="b", message=b"2")
        await bus.publish(channel="a", message=b"3")

        assert await take(subscription, 3) == [("a", b"1"), ("b", b"2"), ("a", b"3")]


async def test_every_subscriber_of_a_channel_gets_each_message(bus: EventBus) -> None:
    async with bus.subscribe(channels=["news"]) as first, bus.subscribe(channels=["news", "sport"]) as second:
        await bus.publish(channel="news", message=b"extra")
        await bus.publish(channel="sport", message=b"goal")

        assert await take(first, 1) == [("news", b"extra")]
        assert await take(second, 2) == [("news", b"extra"), ("sport", b"goal")]


async def test_publishing_to_nobody_is_fine_and_lost(bus: EventBus) -> None:
    for i in range(1000):
        await bus.publish(channel=f"nobody-{i}", message=b"lost")

    # fire and forget: nothing was kept for a subscriber that comes later
    async with bus.subscribe(channels=["nobody-0", "nobody-999"]) as late:
        await bus.publish(channel="nobody-999", message=b"heard")
        assert await take(late, 1) == [("nobody-999", b"heard")]


async def test_messages_published_after_unsubscribing_are_not_delivered(bus: EventBus) -> None:
    async with bus.subscribe(channels=["c"]) as subscription:
        await bus.publish(channel="c", message=b"seen")
        assert await take(subscription, 1) == [("c", b"seen")]
    await bus.publish(channel="c", message=b"after")

    async with bus.subscribe(channels=["c"]) as again:
        await bus.publish(channel="c", message=b"fresh")
        assert await take(again, 1) == [("c", b"fresh")]
