"""Two users, a follow and posts: the follower's timeline converges under push, pull and hybrid."""

from __future__ import annotations

from e2e_client import Murmur, eventually
from live_server import LiveServer


async def test_follow_post_delete_unfollow(strategy_server: LiveServer) -> None:
    murmur = Murmur(strategy_server)
    reader, _, _ = await murmur.register("reader")
    writer, writer_id, _ = await murmur.register("writer")
    await murmur.follow(reader, writer_id)
    first = await murmur.post(writer, "before my own")
    await murmur.post(reader, "my own post")
    await murmur.post(writer, "after my own")

    expected = ["after my own", "my own post", "before my own"]
    assert await eventually(lambda: murmur.timeline(reader), lambda bodies: bodies == expected) == expected

    await murmur.execute("mutation($id: ID!) { deletePost(id: $id) { __typename } }", writer, id=first)
    expected = ["after my own", "my own post"]
    assert await eventually(lambda: murmur.timeline(reader), lambda bodies: bodies == expected) == expected

    await murmur.execute("mutation($id: ID!) { unfollow(userId: $id) { __typename } }", reader, id=writer_id)
    expected = ["my own post"]
    assert await eventually(lambda: murmur.timeline(reader), lambda bodies: bodies == expected) == expected
