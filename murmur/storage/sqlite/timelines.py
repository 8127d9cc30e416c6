"""Materialised home timelines: one row per (owner, post), a floor per owner, trims now and then.

A fan-out's cost is page writes: every owner's timeline sits on its own pages, and each
dirty page is written to the WAL whole. A push adds one entry near the newest end of
each timeline (one page); trimming a full timeline on every push would dirty a second
page, at its oldest end, for every owner. So trims are amortised: a push trims the
timelines of about one owner in `trim_every` (chosen by a hash of owner and post, so
identical writes racing each other choose the same owners), cutting each back to the
cap in one range delete and raising its floor to the cap-th entry. Timelines hold up to
about `trim_every` entries past the cap meanwhile; readers never see them (a read from
the top stops at the cap), and they are exact posts of the owner's sources.

Every write is one transaction on the single writer connection, so a trim, a refill's
check of the floor and a removal never interleave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from murmur.domain import PostId, TimelineEntry, UserId
from murmur.storage.base import Shortfall
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.sqlite.codec import cursor_bound, json_array
from murmur.storage.sqlite.database import Session, SqliteDatabase
from murmur.storage.trims import chosen_for_trim

DEFAULT_TRIM_EVERY = 16

_INSERT_ENTRIES = """
INSERT INTO timelines (owner, post_id, author_id)
SELECT ?, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
ON CONFLICT DO NOTHING
"""
# each owner's cap-th newest entry: everything older goes, and the floor rises to it
_CAP_TH = """
SELECT o.value, (SELECT t.post_id FROM timelines AS t WHERE t.owner = o.value
                  ORDER BY t.post_id DESC LIMIT 1 OFFSET :cap - 1)
  FROM json_each(:owners) AS o
"""
_RAISE_FLOORS = """
INSERT INTO timeline_floors (owner, floor)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true
ON CONFLICT (owner) DO UPDATE SET floor = max(floor, excluded.floor)
"""
_SET_FLOOR = """
INSERT INTO timeline_floors (owner, floor) VALUES (?, ?)
ON CONFLICT (owner) DO UPDATE SET floor = excluded.floor
"""
# owners with a floor above 0, and how many entries they hold at or above it (at most cap counted)
_EXACT_COUNTS = """
SELECT f.owner, f.floor,
       (SELECT count(*) FROM (SELECT 1 FROM timelines AS t
                               WHERE t.owner = f.owner AND t.post_id >= f.floor LIMIT :cap))
  FROM timeline_floors AS f
 WHERE f.owner IN (SELECT value FROM json_each(:owners)) AND f.floor > 0
"""


def _rows(entries: Iterable[TimelineEntry]) -> list[tuple[int, int]]:
    """(post id, author id) pairs, without repeats, newest first."""
    return sorted({require_id(e.post_id): require_id(e.author_id) for e in entries}.items(), reverse=True)


@counted("timelines")
class SqliteTimelineStore:
    def __init__(self, *, db: SqliteDatabase, cap: int, trim_every: int = DEFAULT_TRIM_EVERY) -> None:
        if cap < 1:
            raise ValueError("a timeline cap must be at least 1")
        if trim_every < 1:
            raise ValueError("trim_every must be at least 1")
        self._db = db
        self.cap = cap
        self.trim_every = trim_every

    # --- writes ---------------------------------------------------------------------------

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        # in key order, so the inserts walk the table's B-tree forwards
        keys = sorted({require_id(owner) for owner in owners})
        if not keys:
            return
        post_id, author_id = require_id(entry.post_id), require_id(entry.author_id)
        trimmed = chosen_for_trim(keys, post_id, self.trim_every)
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO timelines (owner, post_id, author_id)"
                " SELECT value, ?, ? FROM json_each(?) WHERE true ON CONFLICT DO NOTHING",
                (post_id, author_id, json_array(keys)),
            )
            await self._trim(tx, trimmed)

    async def backfill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], complete_above: PostId | None
    ) -> None:
        key = require_id(owner)
        rows = _rows(entries)
        async with self._db.write() as tx:
            if rows:
                await tx.execute(_INSERT_ENTRIES, (key, json_array(rows)))
            if complete_above is not None:
                await tx.execute(_RAISE_FLOORS, (json_array([(key, require_id(complete_above))]),))
            await self._trim(tx, [key])

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
        return [UserId(str(owner)) for owner in removed]

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        key, author_key = parse_id(owner), parse_id(author_id)
        if key is None or author_key is None:
            return 0
        async with self._db.write() as tx:
            return await tx.execute(
                "DELETE FROM timelines WHERE owner = ? AND author_id = ?", (key, author_key)
            )

    async def refill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], below: PostId, wanted: int
    ) -> bool:
        key, below_key = require_id(owner), require_id(below)
        rows = _rows(entries)
        async with self._db.write() as tx:
            if rows:  # true posts of the owner's sources: worth keeping even if the floor moved
                await tx.execute(_INSERT_ENTRIES, (key, json_array(rows)))
            floor = await _floor(tx, key)
            if floor != below_key:
                return False
            await tx.execute(_SET_FLOOR, (key, rows[-1][0] if len(rows) >= wanted and rows else 0))
        return True

    async def rebuild(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        key = require_id(owner)
        rows = _rows(entries)
        async with self._db.write() as tx:
            if rows:
                await tx.execute(_INSERT_ENTRIES, (key, json_array(rows)))
            await tx.execute(_SET_FLOOR, (key, rows[-1][0] if len(rows) >= self.cap else 0))
            await self._trim(tx, [key])

    async def _trim(self, tx: Session, keys: Sequence[int]) -> None:
        """Cut these timelines back to the cap and raise their floors to the cap-th entry."""
        if not keys:
            return
        cuts = [
            (owner, cap_th)
            for owner, cap_th in await tx.fetchall(_CAP_TH, {"cap": self.cap, "owners": json_array(keys)})
            if cap_th is not None
        ]
        if not cuts:
            return
        await tx.executemany("DELETE FROM timelines WHERE owner = ? AND post_id < ?", cuts)
        await tx.execute(_RAISE_FLOORS, (json_array(cuts),))

    # --- reads ----------------------------------------------------------------------------

    async def shortfall(self, *, owners: Sequence[UserId]) -> dict[UserId, Shortfall]:
        keys = known_ids(owners)
        if not keys:
            return {}
        rows = await self._db.fetchall(_EXACT_COUNTS, {"cap": self.cap, "owners": json_array(keys)})
        return {
            UserId(str(owner)): Shortfall(missing=self.cap - held, below=PostId(str(floor)))
            for owner, floor, held in rows
            if held < self.cap
        }

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        key, bound = parse_id(owner), cursor_bound(before, field="before")
        if before is None:
            limit = min(limit, self.cap)  # entries kept past the cap are not part of the timeline
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
            "SELECT o.value, (SELECT count(*) FROM timelines AS t WHERE t.owner = o.value)"
            " FROM json_each(?) AS o",
            (json_array(known_ids(owners)),),
        )
        sizes = {UserId(str(owner)): size for owner, size in rows}
        return {owner: sizes.get(owner, 0) for owner in owners}


async def _floor(tx: Session, key: int) -> int:
    row = await tx.fetchone("SELECT floor FROM timeline_floors WHERE owner = ?", (key,))
    return int(row[0]) if row else 0
