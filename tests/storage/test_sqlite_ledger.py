"""What the SQLite fan-out ledger promises beyond the contract: a finished plan leaves no row
per chunk, and plans a week old are swept, finished or abandoned (issue 17, finding 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from murmur.storage.sqlite import SqliteDatabase, SqliteFanoutLedger
from murmur.storage.sqlite.ledger import KEPT_SECONDS, SWEEP_EVERY_SECONDS


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await SqliteDatabase.open(tmp_path / "ledger.db")
    yield db
    await db.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def rows(db: SqliteDatabase, table: str) -> int:
    row = await db.fetchone(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_a_finished_plan_keeps_one_row_and_no_chunk_rows(db: SqliteDatabase) -> None:
    ledger = SqliteFanoutLedger(db=db)
    await ledger.plan(task="1:add", spans=["a", "b", "c"])
    for chunk in (0, 1):
        await ledger.finish(task="1:add", chunk=chunk)
    assert await rows(db, "fanout_done") == 2
    assert await ledger.finish(task="1:add", chunk=2) is True
    assert await ledger.finish(task="2:add", chunk=0, spans=["x"]) is True  # in place: one write

    assert (await rows(db, "fanout_done"), await rows(db, "fanout_progress")) == (0, 2)
    assert await ledger.done(task="1:add") == {0, 1, 2}
    assert await ledger.is_done(task="1:add", chunk=1)


async def test_plans_a_week_old_are_swept_finished_or_not(db: SqliteDatabase) -> None:
    clock = Clock()
    ledger = SqliteFanoutLedger(db=db, clock=clock)
    await ledger.finish(task="old-finished:add", chunk=0, spans=["x"])
    await ledger.plan(task="old-abandoned:add", spans=["a", "b"])
    await ledger.finish(task="old-abandoned:add", chunk=0)
    # the previous layout's rows: a plan, and a chunk finished in place with no plan
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO fanout_plans (task, spans, planned_at) VALUES ('legacy:add', '[\"a\"]', ?)",
            (clock.now,),
        )
        await tx.execute("INSERT INTO fanout_done (task, chunk) VALUES ('legacy-alone:add', 0)")

    clock.now += KEPT_SECONDS - 60
    await ledger.plan(task="recent:add", spans=["a", "b"])
    clock.now += SWEEP_EVERY_SECONDS + 120  # the old ones are a week old now, "recent" is not
    await ledger.finish(task="recent:add", chunk=0)

    remaining = await db.fetchall("SELECT task FROM fanout_progress")
    assert [row[0] for row in remaining] == ["recent:add"]
    assert await rows(db, "fanout_plans") == 0
    done = await db.fetchall("SELECT task, chunk FROM fanout_done")
    assert [tuple(row) for row in done] == [("recent:add", 0)]
