"""Posts by id, batched: a timeline page is one posts_by_id call."""

from __future__ import annotations

from aiodataloader import DataLoader

from murmur.domain import Post, PostId
from murmur.storage.base import PostStore


def posts_loader(posts: PostStore) -> DataLoader[PostId, Post | None]:
    async def load(ids: list[PostId]) -> list[Post | None]:
        found = await posts.posts_by_id(ids=ids)
        return [found.get(post_id) for post_id in ids]

    return DataLoader(load)
