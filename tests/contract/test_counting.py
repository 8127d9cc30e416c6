"""Every store operation is counted, per store and operation (the numbers studies compare)."""

from __future__ import annotations

from contract_helpers import created_message, new_id, new_post, new_user

from murmur.domain import TimelineEntry, UserId
from murmur.metrics import store_operation_counts
from murmur.storage.base import Cache, FollowGraph, Outgoing, PostStore, Queue, TimelineStore, UserStore


async def test_store_operations_are_counted(
    users_store: UserStore,
    post_store: PostStore,
    graph: FollowGraph,
    timelines: TimelineStore,
    queue: Queue,
    cache: Cache,
) -> None:
    before = store_operation_counts()
    user = new_user()
    await users_store.create_user(user=user, password_hash="h")
    await users_store.users_by_id(ids=[user.id])
    await users_store.users_by_id(ids=[user.id])
    post = new_post(user.id)
    await post_store.create_post(post=post, outbox=created_message(post))
    await graph.follow(follower=user.id, followee=UserId(new_id()))
    await timelines.add_to_timelines(owners=[user.id], entry=TimelineEntry(post.id, user.id))
    await queue.send(messages=[Outgoing(b"x")])
    await queue.depth()
    await cache.get_many(keys=["k"])
    after = store_operation_counts()

    def delta(store: str, operation: str) -> float:
        return after.get((store, operation), 0.0) - before.get((store, operation), 0.0)

    assert delta("users", "create_user") == 1
    assert delta("users", "users_by_id") == 2
    assert delta("posts", "create_post") == 1
    assert delta("graph", "follow") == 1
    assert delta("timelines", "add_to_timelines") == 1
    assert delta("queue", "send") == 1
    assert delta("queue", "depth") == 1
    assert delta("cache", "get_many") == 1
    assert delta("users", "count_users") == 0
