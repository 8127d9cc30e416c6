"""A timeline page costs one batched read per kind of thing it shows, counted on the real store."""

from __future__ import annotations

from pathlib import Path

from api_helpers import Client

from api.schema import build_schema
from murmur.metrics import store_operation_counts
from murmur.platform import open_platform
from murmur.settings import Settings

PAGE = (
    "{ timeline(first: 20) { edges { cursor node { id body createdAt "
    "author { id username displayName followerCount viewerFollows } } } pageInfo { hasNextPage endCursor } } }"
)
OPERATIONS = (
    ("users", "users_by_id"),
    ("posts", "posts_by_id"),
    ("graph", "follow_counts"),
    ("graph", "follows"),
    ("users", "token_version"),
)


def counts() -> dict[tuple[str, str], float]:
    totals = store_operation_counts()
    return {operation: totals.get(operation, 0.0) for operation in (*OPERATIONS, ("cache", "get_many"))}


async def test_a_page_of_twenty_authors_is_one_users_by_id(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    reader, _ = await client.register("reader")
    for i in range(20):
        token, user_id = await client.register(f"author{i}")
        await client.data("mutation($id: ID!) { follow(userId: $id) { __typename } }", reader, id=user_id)
        await client.data(f'mutation {{ createPost(body: "post {i}") {{ __typename }} }}', token)
    await client.settle()

    # a second platform on the same file: its cache is cold, so every read reaches the store;
    # the page's own reads only (a first page's heal check, once a minute, is tested apart)
    async with open_platform(settings.model_copy(update={"heal_reads": False})) as platform:
        cold = Client(build_schema(settings), platform)
        before = counts()
        data = await cold.data(PAGE, reader)
        after = counts()

    authors = {edge["node"]["author"]["username"] for edge in data["timeline"]["edges"]}
    assert authors == {f"author{i}" for i in range(20)}
    delta = {operation: after[operation] - before[operation] for operation in after}
    assert delta == {
        ("users", "users_by_id"): 1,
        ("posts", "posts_by_id"): 1,
        ("graph", "follow_counts"): 1,
        ("graph", "follows"): 1,
        # the reader's token version: is the token revoked? (cold cache: from the store)
        ("users", "token_version"): 1,
        # users and posts read through the cache, one batch each, and the token version; and the
        # reader's pulled
        # authors (hybrid): their generations (missing, started, read back), then the cached
        # pulled list and the cached followees (both missing on this cold cache)
        ("cache", "get_many"): 3 + 4,
    }
