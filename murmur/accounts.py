"""Registering, logging in and editing a profile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from murmur.auth import Passwords, Tokens
from murmur.domain import (
    IdGenerator,
    InvalidCredentials,
    InvalidInput,
    Limits,
    ProfileUpdate,
    User,
    UserId,
)
from murmur.storage.base import UserStore

_USERNAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: User


class Accounts:
    def __init__(
        self, *, users: UserStore, passwords: Passwords, tokens: Tokens, ids: IdGenerator, limits: Limits
    ) -> None:
        self._users = users
        self._passwords = passwords
        self._tokens = tokens
        self._ids = ids
        self._limits = limits

    async def register(self, *, username: str, password: str, display_name: str | None = None) -> Session:
        limits = self._limits
        if not (limits.username_min <= len(username) <= limits.username_max) or not _USERNAME.fullmatch(
            username
        ):
            raise InvalidInput(
                f"A username is {limits.username_min}-{limits.username_max} letters, digits or underscores.",
                field="username",
            )
        if not (limits.password_min <= len(password) <= limits.password_max):
            raise InvalidInput(
                f"A password is {limits.password_min}-{limits.password_max} characters long.",
                field="password",
            )
        name = self._clean_display_name(display_name) if display_name is not None else username
        user = User(
            id=UserId(self._ids.next_id()),
            username=username,
            display_name=name,
            bio="",
            created_at=datetime.now(UTC),
        )
        await self._users.create_user(user=user, password_hash=await self._passwords.hash(password))
        return Session(token=self._tokens.issue(user.id), user=user)

    async def login(self, *, username: str, password: str) -> Session:
        credentials = None
        if len(username) <= self._limits.username_max and len(password) <= self._limits.password_max:
            credentials = await self._users.credentials(username=username)
        ok = await self._passwords.verify(credentials.password_hash if credentials else None, password)
        if not ok or credentials is None:
            raise InvalidCredentials()
        return Session(token=self._tokens.issue(credentials.user.id), user=credentials.user)

    async def update_profile(self, *, user_id: UserId, display_name: str | None, bio: str | None) -> User:
        if bio is not None and len(bio) > self._limits.bio_max:
            raise InvalidInput(f"A bio is at most {self._limits.bio_max} characters.", field="bio")
        update = ProfileUpdate(
            display_name=self._clean_display_name(display_name) if display_name is not None else None,
            bio=bio,
        )
        return await self._users.update_profile(user_id=user_id, update=update)

    def authenticate(self, token: str) -> UserId:
        """The user the token names; InvalidToken when it is expired or not Murmur's."""
        return self._tokens.verify(token)

    def _clean_display_name(self, display_name: str) -> str:
        name = " ".join(display_name.split())
        if not name or len(name) > self._limits.display_name_max:
            raise InvalidInput(
                f"A display name is 1-{self._limits.display_name_max} characters.", field="displayName"
            )
        return name
