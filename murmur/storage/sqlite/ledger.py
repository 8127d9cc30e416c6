"""The fan-out ledger in SQLite: each planned fan-out's spans, a counter of its chunks done,
and a row per chunk done while the fan-out is under way.

    fanout_progress (task, spans, chunks, finished, planned_at)   one row per task
    fanout_done     (task, chunk)                                 chunks done, until all are

Every call but `done` touches its own task's row and at most one chunk's row, so a plan
of 2,000 chunks costs what a plan of 2 does per chunk. The finish that completes a plan
deletes its chunk rows (finished = chunks says every one is done); the task's own row
stays a week, so a redelivered plan finds the work done, and a sweep run by `plan` and
`finish` at most once an hour drops older ones (MongoDB's TTL index does the same there).

fanout_progress is created here, not in schema.py: TODO(issue 17) move its DDL into
schema.TABLES (it needs no migration: TABLES creates what is new). Rows that the previous
layout left in fanout_plans and fanout_done are swept once they are a week old.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import orjson

from murmur.storage.counting import counted
from murmur.storage.sqlite.codec import json_array
from murmur.storage.sqlite.database import Session, SqliteDatabase

KEPT_SECONDS = 7 * 24 * 3600  # as MongoDB's TTL index
SWEEP_EVERY_SECONDS = 3600.0

_TABLES = (
    """CREATE TABLE IF NOT EXISTS fanout_progress (
        task       TEXT PRIMARY KEY,
        spans      TEXT NOT NULL,     -- JSON array: the recorded plan
        chunks     INTEGER NOT NULL,  -- its length
        finished   INTEGER NOT NULL,  -- chunks done: finished = chunks when the task is
        planned_at REAL NOT NULL      -- unix seconds
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS fanout_progress_by_age ON fanout_progress (planned_at)",
)


@counted("ledger")
class SqliteFanoutLedger:
    def __init__(self, *, db: SqliteDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._ready = False
        self._swept_at = float("-inf")

    async def _prepare(self) -> None:
        if not self._ready:
            async with self._db.write() as tx:
                for statement in _TABLES:
                    await tx.execute(statement)
            self._ready = True

    async def plan(self, *, task: str, spans: Sequence[str]) -> list[str]:
        await self._prepare()
        async with self._db.write() as tx:
            await self._progress(tx, task)  # adopts a plan of the previous layout
            recorded = await self._record(tx, task, spans)
            await self._sweep(tx)
        return recorded

    async def recorded(self, *, task: str) -> list[str] | None:
        await self._prepare()
        row = await self._db.fetchone("SELECT spans FROM fanout_progress WHERE task = ?", (task,))
        return _spans(row[0]) if row else None

    async def is_done(self, *, task: str, chunk: int) -> bool:
        await self._prepare()
        row = await self._db.fetchone(
            "SELECT EXISTS (SELECT 1 FROM fanout_progress WHERE task = ?1 AND finished >= chunks)"
            " OR EXISTS (SELECT 1 FROM fanout_done WHERE task = ?1 AND chunk = ?2)",
            (task, chunk),
        )
        return bool(row and row[0])

    async def finish(self, *, task: str, chunk: int, spans: Sequence[str] | None = None) -> bool:
        await self._prepare()
        async with self._db.write() as tx:
            if spans is not None:
                await self._progress(tx, task)  # adopts a plan of the previous layout
                await self._record(tx, task, spans)
            row = await self._progress(tx, task)
            if row is None:
                return False  # never planned, or swept a week on: nothing to complete
            chunks, finished = row
            if finished >= chunks:
                return False  # every chunk is done already, this one too
            if finished + 1 == chunks:
                # the last one, unless it is done already (then another one is missing)
                if await tx.fetchone("SELECT 1 FROM fanout_done WHERE task = ? AND chunk = ?", (task, chunk)):
                    return False
                await tx.execute("DELETE FROM fanout_done WHERE task = ?", (task,))  # finished says it all
            elif not await tx.execute(
                "INSERT INTO fanout_done (task, chunk) VALUES (?, ?) ON CONFLICT DO NOTHING", (task, chunk)
            ):
                return False
            await tx.execute("UPDATE fanout_progress SET finished = finished + 1 WHERE task = ?", (task,))
            await self._sweep(tx)
        return finished + 1 == chunks

    async def done(self, *, task: str) -> set[int]:
        await self._prepare()
        row = await self._db.fetchone("SELECT chunks, finished FROM fanout_progress WHERE task = ?", (task,))
        if row is not None and int(row[1]) >= int(row[0]):
            return set(range(int(row[0])))
        rows = await self._db.fetchall("SELECT chunk FROM fanout_done WHERE task = ?", (task,))
        return {int(row[0]) for row in rows}

    async def sweep(self, *, older_than_seconds: float = KEPT_SECONDS) -> None:
        """Drop the tasks planned longer ago than that, finished or not (an abandoned one too)."""
        await self._prepare()
        async with self._db.write() as tx:
            await self._sweep(tx, older_than_seconds=older_than_seconds, force=True)

    async def _progress(self, tx: Session, task: str) -> tuple[int, int] | None:
        row = await tx.fetchone("SELECT chunks, finished FROM fanout_progress WHERE task = ?", (task,))
        if row is None:
            # a plan the previous layout recorded, its chunks still under way: adopted once
            legacy = await tx.fetchone("SELECT spans, planned_at FROM fanout_plans WHERE task = ?", (task,))
            if legacy is None:
                return None
            spans = _spans(legacy[0])
            done = await tx.fetchone("SELECT count(*) FROM fanout_done WHERE task = ?", (task,))
            row = (len(spans), int(done[0]) if done else 0)
            await tx.execute(
                "INSERT INTO fanout_progress (task, spans, chunks, finished, planned_at) VALUES (?, ?, ?, ?, ?)",
                (task, json_array(spans), *row, float(legacy[1])),
            )
            await tx.execute("DELETE FROM fanout_plans WHERE task = ?", (task,))
        return int(row[0]), int(row[1])

    async def _record(self, tx: Session, task: str, spans: Sequence[str]) -> list[str]:
        await tx.execute(
            "INSERT INTO fanout_progress (task, spans, chunks, finished, planned_at) VALUES (?, ?, ?, 0, ?)"
            " ON CONFLICT DO NOTHING",
            (task, json_array(spans), len(spans), self._clock()),
        )
        row = await tx.fetchone("SELECT spans FROM fanout_progress WHERE task = ?", (task,))
        assert row is not None  # written or found in this very transaction
        return _spans(row[0])

    async def _sweep(
        self, tx: Session, *, older_than_seconds: float = KEPT_SECONDS, force: bool = False
    ) -> None:
        now = self._clock()
        if not force and now - self._swept_at < SWEEP_EVERY_SECONDS:
            return
        self._swept_at = now
        cutoff = now - older_than_seconds
        old = "SELECT task FROM fanout_progress WHERE planned_at < ?"
        await tx.execute(f"DELETE FROM fanout_done WHERE task IN ({old})", (cutoff,))
        await tx.execute("DELETE FROM fanout_progress WHERE planned_at < ?", (cutoff,))
        # the previous layout's rows: plans by age, chunk rows of tasks no longer planned
        await tx.execute("DELETE FROM fanout_plans WHERE planned_at < ?", (cutoff,))
        await tx.execute(
            "DELETE FROM fanout_done WHERE task NOT IN (SELECT task FROM fanout_progress)"
            " AND task NOT IN (SELECT task FROM fanout_plans)"
        )


def _spans(stored: str | bytes) -> list[str]:
    return [str(span) for span in orjson.loads(stored)]
