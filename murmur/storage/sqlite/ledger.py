"""The fan-out ledger in SQLite: each planned fan-out's spans, and its chunks that are done."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson

from murmur.storage.counting import counted
from murmur.storage.sqlite.codec import json_array
from murmur.storage.sqlite.database import SqliteDatabase


@counted("ledger")
class SqliteFanoutLedger:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    async def plan(self, *, task: str, spans: Sequence[str]) -> list[str]:
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO fanout_plans (task, spans, planned_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (task, json_array(spans), time.time()),
            )
            row = await tx.fetchone("SELECT spans FROM fanout_plans WHERE task = ?", (task,))
        assert row is not None  # written or found in this very transaction
        return [str(span) for span in orjson.loads(row[0])]

    async def finish(self, *, task: str, chunk: int) -> int | None:
        async with self._db.write() as tx:
            if not await tx.execute(
                "INSERT INTO fanout_done (task, chunk) VALUES (?, ?) ON CONFLICT DO NOTHING", (task, chunk)
            ):
                return None
            row = await tx.fetchone("SELECT count(*) FROM fanout_done WHERE task = ?", (task,))
        assert row is not None  # an aggregate always answers one row
        return int(row[0])

    async def done(self, *, task: str) -> set[int]:
        rows = await self._db.fetchall("SELECT chunk FROM fanout_done WHERE task = ?", (task,))
        return {int(row[0]) for row in rows}
