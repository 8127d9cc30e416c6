"""The follow graph: one row per edge, listed newest first by its sequence number, with counts kept
in the same transaction as the edges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from murmur.domain import Page, UserId
from murmur.storage.base import FollowCounts
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.sqlite.codec import cursor_bound, json_array
from murmur.storage.sqlite.database import Session, SqliteDatabase

# +1 or -1 to both ends of an edge
_ADJUST_COUNTS = """
INSERT INTO follow_counts (user_id, followers, following) VALUES (:followee, :delta, 0), (:follower, 0, :delta)
ON CONFLICT (user_id) DO UPDATE SET followers = followers + excluded.followers,
                                    following = following + excluded.following
"""


async def _adjust_counts(tx: Session, follower: int, followee: int, delta: int) -> None:
    await tx.execute(_ADJUST_COUNTS, {"follower": follower, "followee": followee, "delta": delta})


@counted("graph")
class SqliteFollowGraph:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    async def follow(self, *, follower: UserId, followee: UserId) -> bool:
        a, b = require_id(follower), require_id(followee)
        async with self._db.write() as tx:
            added = await tx.execute(
                "INSERT INTO follows (follower, followee) VALUES (?, ?) ON CONFLICT DO NOTHING", (a, b)
            )
            if added:
                await _adjust_counts(tx, a, b, +1)
        return added > 0

    async def unfollow(self, *, follower: UserId, followee: UserId) -> bool:
        a, b = parse_id(follower), parse_id(followee)
        if a is None or b is None:
            return False
        async with self._db.write() as tx:
            removed = await tx.execute("DELETE FROM follows WHERE follower = ? AND followee = ?", (a, b))
            if removed:
                await _adjust_counts(tx, a, b, -1)
        return removed > 0

    async def follows(self, *, follower: UserId, followees: Sequence[UserId]) -> set[UserId]:
        a = parse_id(follower)
        if a is None or not followees:
            return set()
        found = await self._db.fetchall(
            "SELECT followee FROM follows WHERE follower = ? AND followee IN (SELECT value FROM json_each(?))",
            (a, json_array(known_ids(followees))),
        )
        return {UserId(str(row[0])) for row in found}

    async def follow_counts(self, *, user_ids: Sequence[UserId]) -> dict[UserId, FollowCounts]:
        rows = await self._db.fetchall(
            "SELECT user_id, followers, following FROM follow_counts"
            " WHERE user_id IN (SELECT value FROM json_each(?))",
            (json_array(known_ids(user_ids)),),
        )
        found = {
            UserId(str(user_id)): FollowCounts(followers, following) for user_id, followers, following in rows
        }
        return {user_id: found.get(user_id, FollowCounts(0, 0)) for user_id in user_ids}

    async def followers(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        return await self._edges("followee", "follower", user_id, after, limit)

    async def following(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        return await self._edges("follower", "followee", user_id, after, limit)

    async def _edges(
        self,
        end: Literal["follower", "followee"],
        other_end: Literal["follower", "followee"],
        user_id: UserId,
        after: str | None,
        limit: int,
    ) -> Page[UserId]:
        """The edges at one end, newest first; the cursor is the seq of the last edge handed out."""
        key, bound = parse_id(user_id), cursor_bound(after, field="after")
        if key is None or limit <= 0:
            return Page(items=[])
        rows = await self._db.fetchall(
            f"SELECT {other_end}, seq FROM follows WHERE {end} = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (key, bound, limit + 1),
        )
        page = rows[:limit]
        return Page(
            items=[UserId(str(row[0])) for row in page],
            next_cursor=str(page[-1][1]) if len(rows) > limit else None,
        )
