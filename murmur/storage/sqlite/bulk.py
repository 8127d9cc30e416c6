"""Loading a generated world into a fresh SQLite file, fast.

The stores' own writes are transactions made for a live service: each checks what is
there and updates counts as it goes. A bulk load into an empty file needs none of that,
so it writes each table in one transaction on a plain sqlite3 connection with
`synchronous = OFF` (a crash mid-load leaves a file to delete, not a service to repair),
inserts the follows in (follower, followee) order, which appends to the unique index,
and builds the follows' other two indexes once at the end, a sort each, instead of one
random b-tree insert per edge. Materialised timelines are computed in one SQL statement
with the same rule as TimelineRepair.rebuild: the owner's and their followees' pushed
posts, newest first, cut at the cap, the floor at the cap-th entry of a full one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Self

from murmur.domain import PermanentStoreError
from murmur.storage.sqlite.schema import TABLES

# how many rows go into one executemany call: progress is reported between them
BATCH = 100_000
_FOLLOW_INDEXES = tuple(sql for sql in TABLES if sql.startswith("CREATE INDEX IF NOT EXISTS follows_"))

Progress = Callable[[int], None]

# a small cache sorts faster when the indexes are built (measured: 4 s against 9 s with 1 GB)
_LOADING_PRAGMAS = ("synchronous = OFF", "cache_size = -20000", "temp_store = FILE", "threads = 2")
_INSERT_FOLLOWS = "INSERT INTO follows (follower, followee) SELECT value ->> 0, value ->> 1 FROM json_each(?)"

_MATERIALISE = """
INSERT INTO timelines (owner, post_id, author_id)
SELECT owner, post_id, author_id FROM (
    SELECT owner, post_id, author_id,
           row_number() OVER (PARTITION BY owner ORDER BY post_id DESC) AS newest
      FROM (SELECT f.follower AS owner, p.id AS post_id, p.author_id
              FROM follows AS f JOIN posts AS p ON p.author_id = f.followee
             WHERE p.delivery = 'pushed'
            UNION ALL
            SELECT author_id, id, author_id FROM posts WHERE delivery = 'pushed')
) WHERE newest <= :cap
ORDER BY owner, post_id
"""
# a full timeline is exact down to its oldest entry (TimelineStore.rebuild's rule)
_FLOORS = """
INSERT INTO timeline_floors (owner, floor)
SELECT owner, min(post_id) FROM timelines GROUP BY owner HAVING count(*) >= :cap
"""


class SqliteBulkLoader:
    """Use as `with SqliteBulkLoader(path) as load:` on a file whose schema exists
    (SqliteDatabase.open created it) and which holds no users yet."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        if self._connection.execute("SELECT count(*) FROM users").fetchone()[0]:
            self._connection.close()
            raise PermanentStoreError(f"{path} already holds users: bulk loading needs a fresh database")
        # no journal while loading: pages go straight to the file, once (WAL writes them twice)
        for pragma in (*_LOADING_PRAGMAS, "journal_mode = DELETE", "journal_mode = OFF"):
            self._connection.execute(f"PRAGMA {pragma}")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._connection.close()

    def users(self, rows: Iterable[tuple[int, str, str, str, int, str]], progress: Progress) -> None:
        """(id, username, display name, bio, created ms, password hash) rows."""
        self._insert(
            "INSERT INTO users (id, username, display_name, bio, created_at, password_hash)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
            progress,
        )

    def follows(
        self,
        followers: Sequence[int],
        followees: Sequence[int],
        counts: Iterable[tuple[int, int, int]],
        progress: Progress,
    ) -> None:
        """Edges sorted by follower, then followee, and each user's (id, followers,
        following) counts, which the caller has at hand."""
        for index in _FOLLOW_INDEXES:
            self._connection.execute(f"DROP INDEX IF EXISTS {index.split()[5]}")
        # as JSON arrays SQLite unpacks itself: a quarter faster than binding each row
        with self._transaction():
            for start in range(0, len(followers), BATCH):
                pairs = zip(followers[start : start + BATCH], followees[start : start + BATCH], strict=True)
                self._connection.execute(_INSERT_FOLLOWS, (json.dumps(list(pairs)),))
                progress(min(BATCH, len(followers) - start))
            self._connection.executemany(
                "INSERT INTO follow_counts (user_id, followers, following) VALUES (?, ?, ?)", counts
            )
        with self._transaction():
            for index in _FOLLOW_INDEXES:
                self._connection.execute(index)

    def posts(self, rows: Iterable[tuple[int, int, str, int, str]], progress: Progress) -> None:
        """(id, author id, body, created ms, delivery) rows."""
        self._insert(
            "INSERT INTO posts (id, author_id, body, created_at, delivery) VALUES (?, ?, ?, ?, ?)",
            rows,
            progress,
        )

    def materialise_timelines(self, *, cap: int) -> int:
        """Write every materialised timeline; returns the entries written."""
        with self._transaction():
            written = self._connection.execute(_MATERIALISE, {"cap": cap}).rowcount
            self._connection.execute(_FLOORS, {"cap": cap})
        return written

    def finish(self) -> None:
        """Back to the journal the service runs with."""
        self._connection.execute("PRAGMA journal_mode = WAL")

    def _insert(self, sql: str, rows: Iterable[Sequence[object]], progress: Progress) -> None:
        with self._transaction():
            for batch in _batches(rows):
                self._connection.executemany(sql, batch)
                progress(len(batch))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection)


class _Transaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._connection.execute("COMMIT" if kind is None else "ROLLBACK")


def _batches(rows: Iterable[Sequence[object]]) -> Iterator[list[Sequence[object]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch
