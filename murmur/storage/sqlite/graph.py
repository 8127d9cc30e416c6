"""The follow graph: one row per edge, listed newest first by its sequence number, with counts kept
in the same transaction as the edges.

A fan-out span is a range of sequence numbers, "lo:hi" (lo < seq <= hi), cut from the
followers index so each holds `size` followers when planned; reading one is a range scan
of that index. Follows made later get a larger seq, outside every span planned before:
their follow task backfills the post.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from murmur.domain import Page, PermanentStoreError, UserId
from murmur.storage.base import FollowCounts
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.sqlite.codec import cursor_bound, json_array
from murmur.storage.sqlite.database import Session, SqliteDatabase

# +1 or -1 to both ends of an edge; an unfollow also counts towards the followee's unfollows
_ADJUST_COUNTS = """
INSERT INTO follow_counts (user_id, followers, following, unfollows)
VALUES (:followee, :delta, 0, :lost), (:follower, 0, :delta, 0)
ON CONFLICT (user_id) DO UPDATE SET followers = followers + excluded.followers,
                                    following = following + excluded.following,
                                    unfollows = unfollows + excluded.unfollows
"""
# the seq of every `size`-th follower, newest first: where each span starts
_SPAN_STARTS = """
SELECT seq FROM (SELECT seq, row_number() OVER (ORDER BY seq DESC) AS n FROM follows WHERE followee = ?)
 WHERE (n - 1) % ? = 0
"""


async def _adjust_counts(tx: Session, follower: int, followee: int, delta: int) -> None:
    await tx.execute(
        _ADJUST_COUNTS, {"follower": follower, "followee": followee, "delta": delta, "lost": int(delta < 0)}
    )


def _span(lo: int, hi: int) -> str:
    return f"{lo}:{hi}"


def _parse_span(span: str) -> tuple[int, int]:
    lo, _, hi = span.partition(":")
    if not (lo.isdigit() and hi.isdigit()):
        raise PermanentStoreError(f"not a follower span of this graph: {span!r}")
    return int(lo), int(hi)


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

    async def follow_many(self, *, pairs: Sequence[tuple[UserId, UserId]]) -> int:
        edges = list(dict.fromkeys((require_id(a), require_id(b)) for a, b in pairs if a != b))
        added = 0
        async with self._db.write() as tx:
            for a, b in edges:
                if await tx.execute(
                    "INSERT INTO follows (follower, followee) VALUES (?, ?) ON CONFLICT DO NOTHING", (a, b)
                ):
                    added += 1
                    await _adjust_counts(tx, a, b, +1)
        return added

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

    async def followers_among(self, *, user_id: UserId, candidates: Sequence[UserId]) -> set[UserId]:
        b = parse_id(user_id)
        if b is None or not candidates:
            return set()
        found = await self._db.fetchall(
            "SELECT follower FROM follows WHERE followee = ? AND follower IN (SELECT value FROM json_each(?))",
            (b, json_array(known_ids(candidates))),
        )
        return {UserId(str(row[0])) for row in found}

    async def follow_counts(self, *, user_ids: Sequence[UserId]) -> dict[UserId, FollowCounts]:
        rows = await self._db.fetchall(
            "SELECT user_id, followers, following, unfollows FROM follow_counts"
            " WHERE user_id IN (SELECT value FROM json_each(?))",
            (json_array(known_ids(user_ids)),),
        )
        found = {UserId(str(row[0])): FollowCounts(*row[1:]) for row in rows}
        return {user_id: found.get(user_id, FollowCounts(0, 0)) for user_id in user_ids}

    async def follower_spans(self, *, user_id: UserId, size: int) -> list[str]:
        key = parse_id(user_id)
        if key is None:
            return []
        starts = [row[0] for row in await self._db.fetchall(_SPAN_STARTS, (key, max(1, size)))]
        # each span runs from its start down to the next one's; the last one down to the start
        ends = [*starts[1:], 0] if starts else []
        return [_span(lo, hi) for hi, lo in zip(starts, ends, strict=True)]

    async def followers_in(self, *, user_id: UserId, span: str) -> list[UserId]:
        key = parse_id(user_id)
        lo, hi = _parse_span(span)
        if key is None:
            return []
        rows = await self._db.fetchall(
            "SELECT follower FROM follows WHERE followee = ? AND seq > ? AND seq <= ? ORDER BY seq DESC",
            (key, lo, hi),
        )
        return [UserId(str(row[0])) for row in rows]

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
