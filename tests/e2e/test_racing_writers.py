"""A dozen writers race each other against a running Murmur; then every timeline must equal
what the model computes from the final truth, read through the same API.

The writers post, delete, follow and unfollow at random, all at once, and all follow a
celebrity who posts too; timelines hold 3 entries, followers are fanned out 3 per chunk,
and leases last 2 seconds. It runs on the embedded shape (one process, three in-process
consumers) and on the cloud shape (the API and three `murmur worker` processes on the
cloud stand-ins), where one worker is SIGKILLed mid-race and started again, so its
messages come back to the others while they work. A second test shows the chunks of one
celebrity post spread over all three worker processes.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import Awaitable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from e2e_client import Murmur, eventually, metric
from live_server import LiveServer, serving

from devstack.cloud import MurmurProcesses
from murmur.settings import Strategy
from tests.servers import BoltServer, MongoServer, MotoServer, RedisServer
from tests.servers._process import free_port
from tests.support.cloud import cloud_stack_env
from tests.support.e2e import e2e_settings

T = TypeVar("T")
CAP = 3
WRITERS = 12
CONVERGE_SECONDS = 90.0
TIGHT = {
    "MURMUR_FANOUT": "push",
    "MURMUR_TIMELINE_MAX": str(CAP),
    "MURMUR_TIMELINE_TRIM_EVERY": "2",
    "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": "3",
    "MURMUR_WORKERS__VISIBILITY_TIMEOUT_SECONDS": "2",
    "MURMUR_NEPTUNE__FOLLOWER_BLOCK_SIZE": "3",
    "MURMUR_SEED__ENABLED": "false",
    "MURMUR_HEAL_READS": "false",  # the timelines fan-out left: healing would hide its mistakes
    "MURMUR_AUTH__HASH_TIME_COST": "1",
    "MURMUR_AUTH__HASH_MEMORY_KIB": "8",
}

SOURCES = """query($id: ID!, $n: Int!) { user(id: $id) {
  posts(first: $n) { edges { node { id } } }
  following(first: 100) { edges { node { posts(first: $n) { edges { node { id } } } } } }
} }"""


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[LiveServer]:
    settings = e2e_settings(
        tmp_path,
        fanout=Strategy.PUSH,
        timeline_max=CAP,
        timeline_trim_every=2,
        heal_reads=False,  # the timelines fan-out left: healing would hide its mistakes
        workers={
            "in_process": 3,
            "wait_seconds": 0.05,
            "followers_page_size": 3,
            "visibility_timeout_seconds": 2,
        },
    )
    yield from serving(settings)


@pytest.fixture(scope="module")
def cloud(
    redis_server: RedisServer,
    moto_server: MotoServer,
    mongo_server: MongoServer,
    bolt_server: BoltServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MurmurProcesses]:
    """One stack for the module's cloud tests (each works with accounts of its own)."""
    env = {**cloud_stack_env(redis_server, moto_server, mongo_server, bolt_server), **TIGHT}
    processes = MurmurProcesses(
        env,
        tmp_path_factory.mktemp("racing-cloud"),
        port=free_port(),
        worker_concurrency=1,
        worker_ports=[free_port() for _ in range(3)],
    )
    processes.init()
    try:
        processes.start()
        processes.wait_ready(timeout=90)
        yield processes
    finally:
        processes.stop()


async def race(murmur: Murmur, *, rounds: int, during: Any = None) -> dict[str, str]:
    """The race itself; returns every user's token by id."""
    celebrity, celebrity_id, _ = await murmur.register("celebrity")
    accounts = [await murmur.register(f"writer{i}") for i in range(WRITERS)]
    tokens = {user_id: token for token, user_id, _ in accounts} | {celebrity_id: celebrity}
    ids = [user_id for _, user_id, _ in accounts]
    await asyncio.gather(*(murmur.follow(token, celebrity_id) for token, _, _ in accounts))

    celebrity_posts: list[str] = []

    async def writer(index: int) -> None:
        rng = random.Random(index)
        token, me = accounts[index][0], accounts[index][1]
        mine: list[str] = []
        follows_celebrity = True
        for round_ in range(rounds):
            roll = rng.random()
            if roll < 0.25:
                mine.append(await murmur.post(token, f"{index}.{round_}"))
            elif roll < 0.35 and mine:
                await delete(murmur, token, mine.pop(rng.randrange(len(mine))))
            elif roll < 0.5:
                await murmur.follow(token, rng.choice([i for i in ids if i != me]))
            elif roll < 0.6:
                await unfollow(murmur, token, rng.choice([i for i in ids if i != me]))
            elif roll < 0.75:  # where the windows are: the celebrity's chunks are in flight
                if follows_celebrity:
                    await unfollow(murmur, token, celebrity_id)
                else:
                    await murmur.follow(token, celebrity_id)
                follows_celebrity = not follows_celebrity
            elif roll < 0.92 or not celebrity_posts:
                celebrity_posts.append(await murmur.post(celebrity, f"celebrity {index}.{round_}"))
            else:
                await delete(murmur, celebrity, celebrity_posts.pop(rng.randrange(len(celebrity_posts))))

    writers = [asyncio.create_task(writer(i)) for i in range(WRITERS)]
    if during is not None:
        await during()
    await asyncio.gather(*writers)
    return tokens


async def delete(murmur: Murmur, token: str, post_id: str) -> None:
    await murmur.execute("mutation($id: ID!) { deletePost(id: $id) { __typename } }", token, id=post_id)


async def unfollow(murmur: Murmur, token: str, user_id: str) -> None:
    await murmur.execute("mutation($id: ID!) { unfollow(userId: $id) { __typename } }", token, id=user_id)


async def expected_timeline(murmur: Murmur, token: str, user_id: str) -> list[str]:
    """The newest CAP posts of the user and everyone they follow, from the truth."""
    user = (await murmur.execute(SOURCES, token, id=user_id, n=CAP))["user"]
    posts = [edge["node"]["id"] for edge in user["posts"]["edges"]]
    for followee in user["following"]["edges"]:
        posts += [edge["node"]["id"] for edge in followee["node"]["posts"]["edges"]]
    return sorted(set(posts), key=int, reverse=True)[:CAP]


async def timeline(murmur: Murmur, token: str) -> list[str]:
    data = await murmur.execute(
        "query($n: Int!) { timeline(first: $n) { edges { node { id } } } }", token, n=CAP
    )
    return [edge["node"]["id"] for edge in data["timeline"]["edges"]]


async def assert_every_timeline_converges(murmur: Murmur, tokens: dict[str, str]) -> None:
    expected = {user_id: await expected_timeline(murmur, token, user_id) for user_id, token in tokens.items()}

    async def everyone() -> dict[str, list[str]]:
        return {user_id: await timeline(murmur, token) for user_id, token in tokens.items()}

    got = await eventually(everyone, lambda seen: seen == expected, CONVERGE_SECONDS)
    wrong = {
        user_id: (got[user_id], expected[user_id]) for user_id in tokens if got[user_id] != expected[user_id]
    }
    assert not wrong, f"timelines that are not what pull computes (got, expected): {wrong}"


async def test_racing_writers_on_the_embedded_shape(embedded: LiveServer) -> None:
    murmur = Murmur(embedded)
    tokens = await race(murmur, rounds=16)
    await assert_every_timeline_converges(murmur, tokens)


async def test_racing_writers_on_the_cloud_shape_with_three_workers(cloud: MurmurProcesses) -> None:
    murmur = Murmur(cloud)  # type: ignore[arg-type]  # any server with url and ws_url will do

    async def kill_and_restart_a_worker() -> None:
        await asyncio.sleep(1.5)  # mid-race
        victim = cloud.workers[1]
        os.kill(victim.popen.pid, signal.SIGKILL)
        victim.popen.wait(timeout=10)
        cloud.workers[1] = cloud.start_worker(1)

    with cloud.logs_on_failure():
        # fewer rounds: moto answers in milliseconds, and a round here costs seconds
        tokens = await race(murmur, rounds=8, during=kill_and_restart_a_worker)
        await assert_every_timeline_converges(murmur, tokens)


async def bounded(calls: Iterable[Awaitable[T]], limit: int = 6) -> list[T]:
    """Await the calls, a few at a time (a flood of registrations would time requests out)."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(call) for call in calls))


def chunks_done(metrics: str) -> float:
    return metric(metrics, "murmur_queue_messages_total", lane="bulk", outcome="done")


async def test_one_celebrity_post_is_fanned_out_by_all_three_worker_processes(cloud: MurmurProcesses) -> None:
    murmur = Murmur(cloud)  # type: ignore[arg-type]
    with cloud.logs_on_failure():
        celebrity, celebrity_id, _ = await murmur.register("star")
        fans = await bounded(murmur.register(f"fan{i}") for i in range(60))  # 20 chunks of 3
        await bounded(murmur.follow(token, celebrity_id) for token, _, _ in fans)
        before = [chunks_done(cloud.worker_metrics(i)) for i in range(3)]
        post_id = await murmur.post(celebrity, "to all of you")

        async def reached() -> int:
            tops = await asyncio.gather(*(timeline(murmur, token) for token, _, _ in fans))
            return sum(top[:1] == [post_id] for top in tops)

        assert await eventually(reached, lambda n: n == len(fans), CONVERGE_SECONDS) == len(fans)
        handled = [chunks_done(cloud.worker_metrics(i)) - before[i] for i in range(3)]
        assert sum(handled) >= 20  # every chunk once (a redelivery could add one)
        assert all(n > 0 for n in handled), f"chunks per worker process: {handled}"
