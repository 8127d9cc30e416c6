"""Users by id, batched: one users_by_id call per request tick, however many authors a page shows."""

from __future__ import annotations

from aiodataloader import DataLoader

from murmur.domain import User, UserId
from murmur.storage.base import UserStore


def users_loader(users: UserStore) -> DataLoader[UserId, User | None]:
    async def load(ids: list[UserId]) -> list[User | None]:
        found = await users.users_by_id(ids=ids)
        return [found.get(user_id) for user_id in ids]

    return DataLoader(load)
