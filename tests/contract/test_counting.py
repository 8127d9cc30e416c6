"""Every store operation is counted, per store and operation (the numbers studies compare):
one test per store, run on each of its backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from contract_helpers import created_message, new_id, new_post, new_user

from murmur.domain import TimelineEntry, UserId
from murmur.metrics import store_operation_counts
from murmur.storage.base import Cache, FollowGraph, Outgoing, PostStore, Queue, TimelineStore, UserStore


async def counted(work: Callable[[], Awaitable[object]], store: str) -> dict[str, float]:
    """The operations of `store` that `work` was counted for, with how often."""
    before = store_operation_counts()
    await work()
    after = store_operation_counts()
    return {
        operation: count - before.get((name, operation), 0.0)
        for (name, operation), count in after.items()
        if name == store and count != before.get((name, operation), 0.0)
    }


async def test_user_operations_are_counted(users_store: UserStore) -> None:
    user = new_user()

    async def work() -> None:
        await users_store.create_user(user=user, password_hash="h")
        await users_store.users_by_id(ids=[user.id])
        await users_store.users_by_id(ids=[user.id])

    assert await counted(work, "users") == {"create_user": 1, "users_by_id": 2}


async def test_post_operations_are_counted(post_store: PostStore) -> None:
    post = new_post(UserId(new_id()))
    assert await counted(
        lambda: post_store.create_post(post=post, outbox=created_message(post)), "posts"
    ) == {"create_post": 1}


async def test_graph_operations_are_counted(graph: FollowGraph) -> None:
    follow = graph.follow(follower=UserId(new_id()), followee=UserId(new_id()))
    assert await counted(lambda: follow, "graph") == {"follow": 1}


async def test_timeline_operations_are_counted(timelines: TimelineStore) -> None:
    owner = UserId(new_id())
    entry = TimelineEntry(new_post(owner).id, owner)
    assert await counted(lambda: timelines.add_to_timelines(owners=[owner], entry=entry), "timelines") == {
        "add_to_timelines": 1
    }


async def test_queue_operations_are_counted(queue: Queue) -> None:
    async def work() -> None:
        await queue.send(messages=[Outgoing(b"x")])
        await queue.depth()

    assert await counted(work, "queue") == {"send": 1, "depth": 1}


async def test_cache_operations_are_counted(cache: Cache) -> None:
    assert await counted(lambda: cache.get_many(keys=["k"]), "cache") == {"get_many": 1}
