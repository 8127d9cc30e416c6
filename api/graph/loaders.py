"""Follow counts and "does the viewer follow them", batched over every user on a page."""

from __future__ import annotations

from aiodataloader import DataLoader

from murmur.domain import UserId
from murmur.storage.base import FollowCounts, FollowGraph

NO_FOLLOWS = FollowCounts(followers=0, following=0)


def follow_counts_loader(graph: FollowGraph) -> DataLoader[UserId, FollowCounts]:
    async def load(ids: list[UserId]) -> list[FollowCounts]:
        counts = await graph.follow_counts(user_ids=ids)
        return [counts.get(user_id, NO_FOLLOWS) for user_id in ids]

    return DataLoader(load)


def viewer_follows_loader(graph: FollowGraph, viewer: UserId) -> DataLoader[UserId, bool]:
    async def load(ids: list[UserId]) -> list[bool]:
        followed = await graph.follows(follower=viewer, followees=ids)
        return [user_id in followed for user_id in ids]

    return DataLoader(load)
