"""A timeline page costs one batched read per kind of thing it shows, counted on the real store."""

from __future__ import annotations

from api_helpers import Client

from murmur.metrics import store_operation_counts

PAGE = (
    "{ timeline(first: 20) { edges { cursor node { id body createdAt "
    "author { id username displayName followerCount viewerFollows } } } pageInfo { hasNextPage endCursor } } }"
)


def calls(operation: str) -> float:
    """Calls of `operation` on any store (the counters are labelled per store and operation)."""
    return sum(count for (_, name), count in store_operation_counts().items() if name == operation)


async def test_a_page_of_twenty_authors_is_one_users_by_id(client: Client) -> None:
    reader, _ = await client.register("reader")
    for i in range(20):
        token, user_id = await client.register(f"author{i}")
        await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", reader, id=user_id)
        await client.data(f'mutation {{ createPost(body: "post {i}") {{ __typename }} }}', token)
    await client.settle()
    client.platform.backends.cache  # noqa: B018 - the users were never read: no cache entry hides a store call

    before = {op: calls(op) for op in ("users_by_id", "posts_by_id", "follow_counts", "follows")}
    data = await client.data(PAGE, reader)
    after = {op: calls(op) for op in before}

    authors = {edge["node"]["author"]["username"] for edge in data["timeline"]["edges"]}
    assert authors == {f"author{i}" for i in range(20)}
    assert {op: after[op] - before[op] for op in before} == {
        "users_by_id": 1,
        "posts_by_id": 1,
        "follow_counts": 1,
        "follows": 1,
    }
