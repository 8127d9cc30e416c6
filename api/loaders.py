"""The DataLoaders of one request, each built on first use: most requests need one or two."""

from __future__ import annotations

from functools import cached_property

from aiodataloader import DataLoader

from api.graph.loaders import follow_counts_loader, viewer_follows_loader
from api.posts.loaders import posts_loader
from api.users.loaders import users_loader
from murmur.domain import Post, PostId, User, UserId
from murmur.storage.base import FollowCounts
from murmur.storage.bundle import Backends


class Loaders:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends
        self._follows: dict[UserId, DataLoader[UserId, bool]] = {}

    @cached_property
    def users(self) -> DataLoader[UserId, User | None]:
        return users_loader(self._backends.users)

    @cached_property
    def posts(self) -> DataLoader[PostId, Post | None]:
        return posts_loader(self._backends.posts)

    @cached_property
    def follow_counts(self) -> DataLoader[UserId, FollowCounts]:
        return follow_counts_loader(self._backends.graph)

    def follows_of(self, viewer: UserId) -> DataLoader[UserId, bool]:
        """Whether `viewer` follows each user asked about."""
        loader = self._follows.get(viewer)
        if loader is None:
            loader = self._follows[viewer] = viewer_follows_loader(self._backends.graph, viewer)
        return loader

    def forget_follows(self, user_id: UserId) -> None:
        """After a follow or unfollow in this request: its counts and edges changed."""
        if "follow_counts" in self.__dict__:
            self.follow_counts.clear(user_id)
        for loader in self._follows.values():
            loader.clear(user_id)
