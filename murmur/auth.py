"""Password hashing (argon2id) and bearer tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from murmur.domain import InvalidToken, UserId

_ISSUER = "murmur"


class Passwords:
    """argon2id hashing, run in a thread: a hash costs tens of milliseconds of CPU."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        # verified against when the username is unknown, so both answers take as long
        self._decoy = self._hasher.hash("murmur-decoy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._decoy, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: UserId
    version: int  # the user's token version when it was issued; a later one revokes it
    expires_at: float  # seconds since the Unix epoch


@dataclass(frozen=True, slots=True)
class Tokens:
    secret: str
    ttl_seconds: int

    def issue(self, user_id: UserId, *, version: int = 0, not_after: float | None = None) -> str:
        """A token for the user at this token version, valid for the TTL, or until `not_after`
        if that comes first (a token minted from another never outlives it)."""
        now = int(time.time())
        expires = now + self.ttl_seconds if not_after is None else min(now + self.ttl_seconds, int(not_after))
        claims = {"sub": user_id, "iat": now, "exp": expires, "iss": _ISSUER, "ver": version}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str) -> TokenClaims:
        """The claims of a valid, unexpired token; InvalidToken for anything else. A token
        issued before versions existed carries none and counts as version 0."""
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], issuer=_ISSUER, options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken(expired=True) from None
        except jwt.PyJWTError:
            raise InvalidToken(expired=False) from None
        subject, version = claims.get("sub"), claims.get("ver", 0)
        if not (isinstance(subject, str) and subject.isdigit()):
            raise InvalidToken(expired=False)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise InvalidToken(expired=False)
        return TokenClaims(user_id=UserId(subject), version=version, expires_at=float(claims["exp"]))
