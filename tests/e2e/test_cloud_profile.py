"""The end-to-end scenario once more, on the full cloud profile: MongoDB (SecantusDB), Neptune
(FalkorDB over Bolt), DynamoDB and SQS (moto), Redis, with the API and a fan-out worker as
separate processes, as their pods are in the cloud shape.

Live events cross processes here: the worker publishes on Redis, the API's subscriber hears.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from e2e_client import Murmur, eventually, metric
from test_live_subscriptions import EVENTS

from devstack.cloud import MurmurProcesses
from murmur.events import codec
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer
from tests.servers._process import free_port
from tests.support.cloud import cloud_stack_env

FAST = {
    "MURMUR_SEED__ENABLED": "false",
    "MURMUR_AUTH__HASH_TIME_COST": "1",
    "MURMUR_AUTH__HASH_MEMORY_KIB": "8",
}
# Generous: moto and FalkorDB answer slowly while the rest of the suite shares them.
CONVERGE_SECONDS = 30.0


@pytest.fixture
def cloud(
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
    tmp_path: Path,
) -> Iterator[MurmurProcesses]:
    env = {**cloud_stack_env(redis_server, moto_server, mongo_server, bolt_server), **FAST}
    processes = MurmurProcesses(env, tmp_path, port=free_port(), worker_ports=[free_port()])
    processes.init()
    try:
        processes.start()
        processes.wait_ready(timeout=60)
        yield processes
    finally:
        processes.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def test_cloud_profile(cloud: MurmurProcesses, redis_client: redis.Redis) -> None:
    murmur = Murmur(cloud)  # type: ignore[arg-type]  # any server with url and ws_url will do
    with cloud.logs_on_failure():
        reader, reader_id, _ = await murmur.register("cloud_reader")
        writer, writer_id, _ = await murmur.register("cloud_writer")
        await murmur.follow(reader, writer_id)
        await murmur.post(writer, "before listening")
        expected = ["before listening"]
        assert await _timeline_becomes(murmur, reader, expected) == expected
        # A first read builds the reader's timeline from the truth, so it can show the post before
        # the worker's fan-out ends; that fan-out's ADDED must not be taken for the live post's.
        await eventually(lambda: _fanouts_finished(cloud), lambda n: n >= 1, CONVERGE_SECONDS)

        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def listen() -> None:
            async with murmur.websocket(reader) as session:
                async for result in session.subscribe(EVENTS):
                    await events.put(result["timelineEvents"])

        listener = asyncio.create_task(listen())
        try:
            await _api_listens_to(redis_client, writer_id)
            post_id = await murmur.post(writer, "live")
            added = await asyncio.wait_for(events.get(), CONVERGE_SECONDS)
            assert added == {
                "kind": "ADDED",
                "postId": post_id,
                "post": {"body": "live", "author": {"id": writer_id}},
            }
            expected = ["live", "before listening"]
            assert await _timeline_becomes(murmur, reader, expected) == expected

            # The cache (and the hot timelines) are only a cache: the same answers without them.
            snapshot = await murmur.execute(SNAPSHOT, reader, writer=writer_id)
            await redis_client.flushall()
            assert await murmur.execute(SNAPSHOT, reader, writer=writer_id) == snapshot
            assert snapshot["viewer"] == {"id": reader_id, "followingCount": 1}

            deleted = await murmur.execute(
                "mutation($id: ID!) { deletePost(id: $id) { __typename } }", writer, id=post_id
            )
            assert deleted["deletePost"]["__typename"] == "DeletePostPayload"
            removed = await asyncio.wait_for(events.get(), CONVERGE_SECONDS)
            assert removed == {"kind": "REMOVED", "postId": post_id, "post": None}
            expected = ["before listening"]
            assert await _timeline_becomes(murmur, reader, expected) == expected
        finally:
            listener.cancel()
            with pytest.raises(asyncio.CancelledError):
                await listener

        for field, expected_error in (
            ('createPost(body: "")', "InvalidInput"),
            (f'follow(userId: "{reader_id}")', "CannotFollowSelf"),
            ('follow(userId: "987654321")', "NotFound"),
        ):
            data = await murmur.execute(
                f"mutation {{ {field} {{ __typename ... on Error {{ message }} }} }}", reader
            )
            (payload,) = data.values()
            assert payload["__typename"] == expected_error, field
            assert payload["message"]


SNAPSHOT = """query($writer: ID!) {
  viewer { id followingCount }
  user(id: $writer) { username followerCount posts(first: 10) { edges { node { id body } } } }
  timeline(first: 10) { edges { cursor node { id body createdAt author { id username } } } }
}"""


async def _timeline_becomes(murmur: Murmur, token: str, expected: list[str]) -> list[str]:
    return await eventually(
        lambda: murmur.timeline(token), lambda bodies: bodies == expected, CONVERGE_SECONDS
    )


async def _api_listens_to(client: redis.Redis, author_id: str) -> None:
    """Wait until the API process holds a Redis subscription to the author's channel: from
    then on, whatever the worker publishes there reaches the websocket."""
    suffix = codec.author_channel(author_id)  # the channel carries the connection's key prefix

    async def subscribers() -> int:
        channels = await client.pubsub_channels(f"*{suffix}")
        counts = await client.pubsub_numsub(*channels) if channels else []
        return sum(count for _, count in counts)

    assert await eventually(subscribers, lambda count: count > 0, CONVERGE_SECONDS) > 0


async def _fanouts_finished(cloud: MurmurProcesses) -> float:
    metrics = await asyncio.to_thread(cloud.worker_metrics, 0)
    return metric(metrics, "murmur_fanout_lag_seconds_count")
