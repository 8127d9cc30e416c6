"""Users and their password hashes; usernames are unique case-insensitively (COLLATE NOCASE)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from murmur.domain import Credentials, IdTaken, NotFound, ProfileUpdate, User, UserId, UsernameTaken
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.sqlite.codec import from_ms, json_array, to_ms
from murmur.storage.sqlite.database import Row, SqliteDatabase

_COLUMNS = "id, username, display_name, bio, created_at"


def _user(row: Row) -> User:
    return User(
        id=UserId(str(row[0])), username=row[1], display_name=row[2], bio=row[3], created_at=from_ms(row[4])
    )


@counted("users")
class SqliteUserStore:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    async def create_user(self, *, user: User, password_hash: str) -> None:
        async with self._db.write() as tx:
            # checked inside the write transaction, so no other writer can take either meanwhile
            if await tx.fetchone("SELECT 1 FROM users WHERE username = ?", (user.username,)):
                raise UsernameTaken(user.username)
            if await tx.fetchone("SELECT 1 FROM users WHERE id = ?", (require_id(user.id),)):
                raise IdTaken(f"user id {user.id} is in use")
            await tx.execute(
                "INSERT INTO users (id, username, display_name, bio, created_at, password_hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    require_id(user.id),
                    user.username,
                    user.display_name,
                    user.bio,
                    to_ms(user.created_at),
                    password_hash,
                ),
            )

    async def import_users(self, *, users: Sequence[tuple[User, str]]) -> None:
        async with self._db.write() as tx:
            await tx.executemany(
                "INSERT INTO users (id, username, display_name, bio, created_at, password_hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (require_id(u.id), u.username, u.display_name, u.bio, to_ms(u.created_at), password_hash)
                    for u, password_hash in users
                ],
            )

    async def users_by_id(self, *, ids: Sequence[UserId]) -> dict[UserId, User]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM users WHERE id IN (SELECT value FROM json_each(?))",
            (json_array(known_ids(ids)),),
        )
        return {user.id: user for user in map(_user, rows)}

    async def credentials(self, *, username: str) -> Credentials | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS}, password_hash, token_version FROM users WHERE username = ?", (username,)
        )
        return Credentials(user=_user(row), password_hash=row[5], token_version=row[6]) if row else None

    async def user_by_username(self, *, username: str) -> User | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM users WHERE username = ?", (username,))
        return _user(row) if row else None

    async def update_profile(self, *, user_id: UserId, update: ProfileUpdate) -> User:
        key = parse_id(user_id)
        row = None
        if key is not None:
            async with self._db.write() as tx:
                row = await tx.fetchone(
                    "UPDATE users SET display_name = coalesce(?, display_name), bio = coalesce(?, bio)"
                    f" WHERE id = ? RETURNING {_COLUMNS}",
                    (update.display_name, update.bio, key),
                )
        if row is None:
            raise NotFound("user", user_id)
        return _user(row)

    async def count_users(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM users")
        return int(row[0]) if row else 0

    async def token_version(self, *, user_id: UserId) -> int | None:
        key = parse_id(user_id)
        row = await self._db.fetchone("SELECT token_version FROM users WHERE id = ?", (key,)) if key else None
        return int(row[0]) if row else None

    async def revoke_tokens(self, *, user_id: UserId) -> int:
        key = parse_id(user_id)
        row = None
        if key is not None:
            async with self._db.write() as tx:
                row = await tx.fetchone(
                    "UPDATE users SET token_version = token_version + 1 WHERE id = ? RETURNING token_version",
                    (key,),
                )
        if row is None:
            raise NotFound("user", user_id)
        return int(row[0])

    async def record_activity(self, *, user_id: UserId, at: datetime) -> datetime | None:
        key = parse_id(user_id)
        if key is None:
            return None
        async with self._db.write() as tx:
            row = await tx.fetchone(
                "SELECT coalesce(last_active, created_at) FROM users WHERE id = ?", (key,)
            )
            if row is None:
                return None
            await tx.execute(
                "UPDATE users SET last_active = max(coalesce(last_active, created_at), ?) WHERE id = ?",
                (to_ms(at), key),
            )
        return from_ms(row[0])

    async def active_among(self, *, user_ids: Sequence[UserId], since: datetime) -> set[UserId]:
        rows = await self._db.fetchall(
            "SELECT id FROM users WHERE id IN (SELECT value FROM json_each(?))"
            " AND coalesce(last_active, created_at) >= ?",
            (json_array(known_ids(user_ids)), to_ms(since)),
        )
        return {UserId(str(row[0])) for row in rows}
