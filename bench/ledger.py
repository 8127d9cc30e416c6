"""Ledger cost per planned fan-out, at 500, 1,000 and 2,000 chunks (issue 17, finding 5).

    uv run python -m bench.ledger

One SQLite file, one plan per size; every chunk does what a worker's chunk does to the
ledger: before (the layout up to issue 17) it read the whole done-set and its finish
counted every done row (LedgerBefore, kept inline); after, one lookup of its own chunk and
one counted finish. Both run in the same process on the same file: the ratio is what to read.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from murmur.storage.sqlite import SqliteDatabase, SqliteFanoutLedger
from murmur.storage.sqlite.codec import json_array

SIZES = (500, 1000, 2000)


class LedgerBefore:
    """The SQLite ledger as it was: the done-set read per chunk, count(*) per finish."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def plan(self, task: str, spans: Sequence[str]) -> None:
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO fanout_plans (task, spans, planned_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (task, json_array(spans), time.time()),
            )

    async def chunk(self, task: str, chunk: int, count: int) -> bool:
        rows = await self._db.fetchall("SELECT chunk FROM fanout_done WHERE task = ?", (task,))
        if chunk in {int(row[0]) for row in rows}:
            return False
        async with self._db.write() as tx:
            await tx.execute(
                "INSERT INTO fanout_done (task, chunk) VALUES (?, ?) ON CONFLICT DO NOTHING", (task, chunk)
            )
            row = await tx.fetchone("SELECT count(*) FROM fanout_done WHERE task = ?", (task,))
        return row is not None and int(row[0]) == count


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await SqliteDatabase.open(Path(folder) / "ledger.db")
        before, after = LedgerBefore(db), SqliteFanoutLedger(db=db)
        print(f"{'chunks':>7} {'before s':>9} {'after s':>8} {'ratio':>6}")
        for size in SIZES:
            spans = [f"{i}:{i + 1}" for i in range(size)]
            started = time.perf_counter()
            await before.plan(f"before-{size}:add", spans)
            announced = [await before.chunk(f"before-{size}:add", i, size) for i in range(size)]
            before_s = time.perf_counter() - started
            assert announced.count(True) == 1

            started = time.perf_counter()
            task = f"after-{size}:add"
            await after.plan(task=task, spans=spans)
            completed = []
            for i in range(size):
                if not await after.is_done(task=task, chunk=i):
                    completed.append(await after.finish(task=task, chunk=i))
            after_s = time.perf_counter() - started
            assert completed.count(True) == 1
            print(f"{size:>7} {before_s:>9.3f} {after_s:>8.3f} {before_s / after_s:>6.1f}")
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
