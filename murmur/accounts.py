"""Registering, logging in and editing a profile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from murmur.auth import Passwords, TokenClaims, Tokens
from murmur.domain import (
    IdGenerator,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    Limits,
    NotFound,
    ProfileUpdate,
    User,
    UserId,
)
from murmur.password_policy import check_new_password
from murmur.storage.base import UserStore
from murmur.text import TextField, clean_text

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
        self._display_name = TextField(
            name="displayName", label="A display name", max_length=limits.display_name_max
        )
        self._bio = TextField(
            name="bio", label="A bio", max_length=limits.bio_max, multiline=True, required=False
        )

    async def register(self, *, username: str, password: str, display_name: str | None = None) -> Session:
        limits = self._limits
        if not (limits.username_min <= len(username) <= limits.username_max) or not _USERNAME.fullmatch(
            username
        ):
            raise InvalidInput(
                f"A username is {limits.username_min}-{limits.username_max} letters, digits or underscores.",
                field="username",
            )
        check_new_password(password, username=username, limits=limits)
        name = clean_text(display_name, self._display_name) if display_name is not None else username
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
        token = self._tokens.issue(credentials.user.id, version=credentials.token_version)
        return Session(token=token, user=credentials.user)

    async def update_profile(self, *, user_id: UserId, display_name: str | None, bio: str | None) -> User:
        update = ProfileUpdate(
            display_name=clean_text(display_name, self._display_name) if display_name is not None else None,
            bio=clean_text(bio, self._bio) if bio is not None else None,
        )
        return await self._users.update_profile(user_id=user_id, update=update)

    def authenticate(self, token: str) -> TokenClaims:
        """The claims of a token Murmur signed that has not expired; InvalidToken otherwise.
        This does not ask the store whether it was revoked: `current` does."""
        return self._tokens.verify(token)

    async def current(self, token: str) -> TokenClaims:
        """The claims of a token that is valid now: signed, unexpired and not revoked (its
        version is the user's; an unknown user's tokens are revoked too)."""
        claims = self._tokens.verify(token)
        if await self._users.token_version(user_id=claims.user_id) != claims.version:
            raise InvalidToken(expired=False, revoked=True)
        return claims

    async def revoke_tokens(self, *, user_id: UserId, not_after: float) -> Session:
        """Log out everywhere: every token issued so far stops working; a new one for the
        caller, expiring no later than the one it asked with (`not_after`), so a stolen token
        cannot be traded for ever-fresh ones without the password."""
        version = await self._users.revoke_tokens(user_id=user_id)
        user = (await self._users.users_by_id(ids=[user_id])).get(user_id)
        if user is None:
            raise NotFound("user", user_id)
        return Session(token=self._tokens.issue(user_id, version=version, not_after=not_after), user=user)
