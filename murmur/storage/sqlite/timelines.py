"""Materialised home timelines: one row per (owner, post), each timeline capped at `cap` entries.

A fan-out's cost is page writes: every owner's timeline sits on its own pages, so
a push dirties about two pages per owner (the newest end, where the entry goes,
and the oldest, where the trim takes one off), and each page is written to the
WAL whole. What keeps the rest cheap, measured at 25K full timelines of cap 800
(bench/sqlite_push.py has the 100K numbers):

- a size per owner in timeline_sizes, so the owners past the cap are found by a
  lookup (an OFFSET probe of the cap-th entry walks 800 index entries per owner:
  5x slower overall);
- sizes written only where they change: a push to a full
  timeline trims it back to the same size, and its page of timeline_sizes stays
  clean (updating every size on every push: 1.4x slower; triggers: 1.3x);
- the trim of a timeline one past the cap is one set-wide DELETE of each owner's
  oldest entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from murmur.domain import PostId, TimelineEntry, UserId
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.sqlite.codec import cursor_bound, json_array
from murmur.storage.sqlite.database import Session, SqliteDatabase

_SET_SIZES = """
INSERT INTO timeline_sizes (owner, size)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
ON CONFLICT (owner) DO UPDATE SET size = excluded.size
"""
# the common case: timelines one past the cap lose their oldest entry
_TRIM_OLDEST = """
DELETE FROM timelines WHERE (owner, post_id) IN (
    SELECT o.value, (SELECT min(t.post_id) FROM timelines AS t WHERE t.owner = o.value)
      FROM json_each(?) AS o)
"""
# one timeline, any number past the cap (a backfill)
_TRIM_OLDEST_N = """
DELETE FROM timelines WHERE owner = ?1 AND post_id IN (
    SELECT post_id FROM timelines WHERE owner = ?1 ORDER BY post_id LIMIT ?2)
"""
_INSERT_ENTRIES = """
INSERT INTO timelines (owner, post_id, author_id)
SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
ON CONFLICT DO NOTHING
RETURNING post_id
"""


def _entry_keys(entries: Iterable[TimelineEntry]) -> dict[int, int]:
    """post id -> author id, without repeats."""
    return {require_id(entry.post_id): require_id(entry.author_id) for entry in entries}


@counted("timelines")
class SqliteTimelineStore:
    def __init__(self, *, db: SqliteDatabase, cap: int) -> None:
        if cap < 1:
            raise ValueError("a timeline cap must be at least 1")
        self._db = db
        self.cap = cap

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        # in key order, so the inserts walk the table's B-tree forwards
        keys = sorted({require_id(owner) for owner in owners})
        if not keys:
            return
        post_id, author_id = require_id(entry.post_id), require_id(entry.author_id)
        async with self._db.write() as tx:
            added = await tx.column(
                "INSERT INTO timelines (owner, post_id, author_id)"
                " SELECT value, ?, ? FROM json_each(?) WHERE true"
                " ON CONFLICT DO NOTHING RETURNING owner",
                (post_id, author_id, json_array(keys)),
            )
            await self._resize(tx, dict.fromkeys(added, 1))

    async def add_entries(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        key = require_id(owner)
        # only the newest `cap` can survive the trim, so the rest need not be written
        newest = sorted(_entry_keys(entries).items(), reverse=True)[: self.cap]
        if not newest:
            return
        async with self._db.write() as tx:
            added = await tx.column(_INSERT_ENTRIES, (key, json_array(newest)))
            await self._resize(tx, {key: len(added)})

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        post_key = parse_id(post_id)
        keys = known_ids(owners)
        if post_key is None or not keys:
            return []
        async with self._db.write() as tx:
            removed = await tx.column(
                "DELETE FROM timelines WHERE owner IN (SELECT value FROM json_each(?)) AND post_id = ?"
                " RETURNING owner",
                (json_array(keys), post_key),
            )
            await self._resize(tx, dict.fromkeys(removed, -1))
        return [UserId(str(owner)) for owner in removed]

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        key, author_key = parse_id(owner), parse_id(author_id)
        if key is None or author_key is None:
            return 0
        async with self._db.write() as tx:
            removed = await tx.execute(
                "DELETE FROM timelines WHERE owner = ? AND author_id = ?", (key, author_key)
            )
            await self._resize(tx, {key: -removed})
        return removed

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        key, bound = parse_id(owner), cursor_bound(before, field="before")
        if key is None or limit <= 0:
            return []
        rows = await self._db.fetchall(
            "SELECT post_id, author_id FROM timelines WHERE owner = ? AND post_id < ?"
            " ORDER BY post_id DESC LIMIT ?",
            (key, bound, limit),
        )
        return [
            TimelineEntry(post_id=PostId(str(post)), author_id=UserId(str(author))) for post, author in rows
        ]

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]:
        rows = await self._db.fetchall(
            "SELECT owner, size FROM timeline_sizes WHERE owner IN (SELECT value FROM json_each(?))",
            (json_array(known_ids(owners)),),
        )
        sizes = {UserId(str(owner)): size for owner, size in rows}
        return {owner: sizes.get(owner, 0) for owner in owners}

    async def replace(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        key = require_id(owner)
        newest = sorted(_entry_keys(entries).items(), reverse=True)[: self.cap]
        async with self._db.write() as tx:
            await tx.execute("DELETE FROM timelines WHERE owner = ?", (key,))
            await tx.execute(_INSERT_ENTRIES, (key, json_array(newest)))
            await tx.execute(
                "INSERT INTO timeline_sizes (owner, size) VALUES (?, ?)"
                " ON CONFLICT (owner) DO UPDATE SET size = excluded.size",
                (key, len(newest)),
            )

    async def _resize(self, tx: Session, deltas: Mapping[int, int]) -> None:
        """Apply size changes and trim every timeline they take past the cap.

        Sizes are written only where they change: a push to a full timeline (the steady
        state) trims it back to the cap, and its page of timeline_sizes stays clean.
        """
        deltas = {owner: delta for owner, delta in deltas.items() if delta}
        if not deltas:
            return
        current: dict[int, int] = dict(
            await tx.fetchall(
                "SELECT owner, size FROM timeline_sizes WHERE owner IN (SELECT value FROM json_each(?))",
                (json_array(deltas),),
            )
        )
        sizes = {owner: current.get(owner, 0) + delta for owner, delta in deltas.items()}
        over = [(owner, size - self.cap) for owner, size in sizes.items() if size > self.cap]
        one_over = [owner for owner, excess in over if excess == 1]
        if one_over:
            await tx.execute(_TRIM_OLDEST, (json_array(one_over),))
        further_over = [(owner, excess) for owner, excess in over if excess > 1]
        if further_over:
            await tx.executemany(_TRIM_OLDEST_N, further_over)
        changed = [
            (owner, min(size, self.cap))
            for owner, size in sizes.items()
            if min(size, self.cap) != current.get(owner, 0)
        ]
        if changed:
            await tx.execute(_SET_SIZES, (json_array(changed),))
