"""One SQLite file in WAL mode: a single write connection, a few read connections, a checkpointer.

SQLite allows one writer at a time, so every write transaction goes through one
connection behind an asyncio lock; under WAL, readers see the last commit and
never wait for the writer, so reads run on a small pool of their own
connections. aiosqlite runs each connection on its own thread: the event loop
never blocks on the database.

The writer does not checkpoint the WAL as it commits (SQLite's default, every
1000 pages): a big fan-out dirties pages all over the timelines table, and
copying them back into the database after every transaction, with an fsync
each time, doubled the cost of a 100K-follower push. A background task
checkpoints instead, once the writer pauses (or the WAL has grown large), so a
burst of writes is copied back once, off the writer's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import aiosqlite

from murmur.domain import PermanentStoreError, RetryableStoreError
from murmur.storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
Params = Sequence[object] | Mapping[str, object]

MIN_SQLITE = (3, 35)  # RETURNING

# Small pages: a fan-out changes ~30 bytes in each of thousands of scattered pages, and
# every dirty page is written whole to the WAL and again to the database. Against 4 KiB,
# 1 KiB pages made a push to full timelines (cap 800) 20% faster and halved the
# checkpoint after it. Only takes effect when the file is created.
PAGE_SIZE = 1024
# the background checkpointer runs when no write began in a whole interval, or the WAL is this big
CHECKPOINT_INTERVAL_SECONDS = 0.5
CHECKPOINT_WAL_BYTES = 256 << 20
# the writer's own checkpoint, a safety valve should the background one stop (~1 GB of 1 KiB pages)
WRITER_AUTOCHECKPOINT_PAGES = 1_000_000
WAL_SIZE_LIMIT_BYTES = 64 << 20  # the WAL file is truncated back to this after a checkpoint
# another process holding the write lock: wait this long, then raise RetryableStoreError
BUSY_TIMEOUT_SECONDS = 5.0

# primary result codes worth retrying: another connection holds a lock, memory or disk ran
# out, I/O failed, or the WAL lock protocol lost a race; everything else is the request's fault
_RETRYABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Raise SQLite's errors as the core's StoreError tree."""
    try:
        yield
    except sqlite3.Error as error:
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _RETRYABLE_CODES:
            raise RetryableStoreError(str(error)) from error
        raise PermanentStoreError(str(error)) from error


class Session:
    """Statements on one connection, used by one task at a time (a read, or a write transaction)."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return cast(list[Row], list(await self.connection.execute_fetchall(sql, params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def column(self, sql: str, params: Params = ()) -> list[Any]:
        return [row[0] for row in await self.fetchall(sql, params)]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed. One round trip to the connection's
        thread (a cursor's rowcount would take a second one, to close the cursor)."""
        before = self.connection.total_changes
        await self.connection.execute_fetchall(sql, params)
        return self.connection.total_changes - before

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        async with self.connection.executemany(sql, rows):
            pass


async def _connect(path: Path, pragmas: Sequence[str], busy_timeout_seconds: float) -> Session:
    # isolation_level=None: no implicit transactions; writes say BEGIN IMMEDIATE themselves.
    # check_same_thread=False: Session.execute reads total_changes from the event loop's
    # thread, between statements (the connection's own thread is idle then).
    connection = aiosqlite.connect(
        path, isolation_level=None, timeout=busy_timeout_seconds, check_same_thread=False
    )
    # A connection's thread would keep a process that never closed its database (it
    # crashed on the way) from exiting; SQLite's WAL survives the thread dying with it.
    thread = getattr(connection, "_thread", None)
    if isinstance(thread, threading.Thread):
        thread.daemon = True
    await connection
    try:
        for pragma in pragmas:
            await connection.execute_fetchall(f"PRAGMA {pragma}")
    except BaseException:
        await connection.close()
        raise
    return Session(connection)


_COMMON_PRAGMAS = ("temp_store = MEMORY",)
_WRITER_PRAGMAS = (
    f"page_size = {PAGE_SIZE}",  # before WAL: the page size of a WAL file is fixed
    "journal_mode = WAL",
    "synchronous = NORMAL",  # WAL + NORMAL: a crash loses no commit, power loss the last few
    f"wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}",
    f"journal_size_limit = {WAL_SIZE_LIMIT_BYTES}",
    # KiB, a ceiling (pages are cached as they are read): a fan-out's random writes miss less
    "cache_size = -262144",
    *_COMMON_PRAGMAS,
)
_READER_PRAGMAS = ("query_only = ON", "cache_size = -32768", *_COMMON_PRAGMAS)


# what a data folder may hold for Murmur to tighten its mode: the database's files and the dev secret
_OWN_SUFFIXES = ("", "-wal", "-shm", "-journal")
_DEV_SECRET = "dev-jwt-secret"


def make_private(path: Path) -> None:
    """The database holds password hashes: its folder 0700, its file and the -wal and -shm
    files 0600. SQLite creates -wal and -shm with the database file's own mode, so creating
    that file 0600 here, before SQLite would (0644 under the usual umask), covers all three
    without touching the process's umask. Files left open by an older Murmur are tightened."""
    _private_folder(path.parent, path.name)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))  # an existing file is left as it is
    for name in (path.name + suffix for suffix in _OWN_SUFFIXES):
        file = path.with_name(name)
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(file.stat().st_mode)
            if not mode & 0o077:
                continue
            try:
                file.chmod(mode & 0o600)
            except PermissionError:  # another user's file: say so, and leave it to them
                log.warning("%s can be read by other users (mode %03o): `chmod 600` it", file, mode)


def _private_folder(folder: Path, database: str) -> None:
    """Create the folder 0700. An existing one that others may open is tightened when it is
    plainly Murmur's (this user's, holding nothing but the database's files and the dev
    secret, all this user's too: a file another user put there makes it shared); otherwise only a warning: a folder shared with other things (a home, a
    volume's root) is not Murmur's to change, and the files in it are private anyway."""
    try:
        folder.mkdir(mode=0o700, parents=True)
        return
    except FileExistsError:
        pass
    info = folder.stat()
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    ours = {database + suffix for suffix in _OWN_SUFFIXES} | {_DEV_SECRET}
    me = os.geteuid()
    entries = list(folder.iterdir())
    if info.st_uid == me and all(e.name in ours and e.stat().st_uid == me for e in entries):
        folder.chmod(mode & 0o700)
    else:
        log.warning(
            "the data folder %s can be opened by other users (mode %03o) or holds their files: "
            "keep it to yourself (`chmod 700` it) if nothing else needs it",
            folder,
            mode,
        )


class SqliteDatabase:
    """The connections to one database file; the stores share it. Open with `await SqliteDatabase.open(path)`."""

    def __init__(
        self,
        *,
        path: Path,
        writer: Session,
        readers: Sequence[Session],
        checkpointer: Session,
        checkpoint_interval_seconds: float,
    ) -> None:
        self.path = path
        self._writer = writer
        self._write_lock = asyncio.Lock()
        self._writes_begun = 0  # lets the checkpointer see whether the writer paused
        self._readers = list(readers)
        # last in, first out: the connection used last has its thread still awake, which
        # halves a read's round trip against waking a sleeping one each time
        self._idle_readers: asyncio.LifoQueue[Session] = asyncio.LifoQueue()
        for reader in self._readers:
            self._idle_readers.put_nowait(reader)
        self._checkpointer = checkpointer
        self._checkpoint_task = asyncio.create_task(
            self._checkpoint_periodically(checkpoint_interval_seconds), name=f"checkpoint {path.name}"
        )

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        readers: int = 3,
        checkpoint_interval_seconds: float = CHECKPOINT_INTERVAL_SECONDS,
        busy_timeout_seconds: float = BUSY_TIMEOUT_SECONDS,
    ) -> SqliteDatabase:
        """Open (creating if needed) the database file and bring its schema up to date."""
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise PermanentStoreError(
                f"SQLite {sqlite3.sqlite_version} is too old: Murmur needs {'.'.join(map(str, MIN_SQLITE))}+"
            )
        path = Path(path)
        try:
            make_private(path)
        except OSError as error:
            raise PermanentStoreError(f"cannot create {path}: {error.strerror or error}") from error
        sessions: list[Session] = []
        try:
            with translated_errors():
                writer = await _connect(path, _WRITER_PRAGMAS, busy_timeout_seconds)
                sessions.append(writer)
                await _create_schema(writer)
                for _ in range(max(1, readers)):
                    sessions.append(await _connect(path, _READER_PRAGMAS, busy_timeout_seconds))
                checkpointer = await _connect(path, _COMMON_PRAGMAS, busy_timeout_seconds)
                sessions.append(checkpointer)
        except BaseException:
            for session in sessions:
                await session.connection.close()
            raise
        return cls(
            path=path,
            writer=writer,
            readers=sessions[1:-1],
            checkpointer=checkpointer,
            checkpoint_interval_seconds=checkpoint_interval_seconds,
        )

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Session]:
        """A write transaction: committed if the block finishes, rolled back if it raises."""
        async with self._write_lock:
            self._writes_begun += 1
            with translated_errors():
                try:
                    # inside the try: a caller cancelled while BEGIN runs on the connection's
                    # thread would otherwise leave the transaction open and every later write
                    # refused ("cannot start a transaction within a transaction")
                    await self._writer.execute("BEGIN IMMEDIATE")
                    yield self._writer
                    await self._writer.execute("COMMIT")
                except BaseException:
                    # shielded: a cancelled caller must still leave no transaction open (the
                    # connection runs statements in order, so the next BEGIN waits for this)
                    await asyncio.shield(self._rollback())
                    raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Session]:
        """A read connection for the caller alone; each statement sees the latest commit."""
        reader = await self._idle_readers.get()
        try:
            with translated_errors():
                yield reader
        finally:
            self._idle_readers.put_nowait(reader)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """One read statement on a pooled read connection."""
        async with self.read() as session:
            return await session.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.read() as session:
            return await session.fetchone(sql, params)

    async def ping(self) -> None:
        await self.fetchone("SELECT 1")

    async def checkpoint(self) -> None:
        """Copy the WAL back into the database now (the background task does it every interval)."""
        with translated_errors():
            await self._checkpointer.fetchall("PRAGMA wal_checkpoint(PASSIVE)")

    async def close(self) -> None:
        self._checkpoint_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._checkpoint_task
        async with self._write_lock:
            for session in (*self._readers, self._checkpointer, self._writer):
                await session.connection.close()

    async def _rollback(self) -> None:
        # SQLite may have rolled back already (some errors do); nothing is left to undo then
        with contextlib.suppress(sqlite3.Error):
            await self._writer.execute("ROLLBACK")

    async def _checkpoint_periodically(self, interval: float) -> None:
        wal = self.path.with_name(self.path.name + "-wal")
        seen = checkpointed = self._writes_begun
        while True:
            await asyncio.sleep(interval)
            writing, seen = self._writes_begun != seen, self._writes_begun
            if seen == checkpointed:
                continue  # nothing new to copy back
            if writing and _size(wal) < CHECKPOINT_WAL_BYTES:
                continue  # mid-burst: copy the pages back once, when the burst is over
            try:
                await self.checkpoint()
                checkpointed = seen
            except Exception:  # keep trying: the writer's own autocheckpoint is the backstop
                log.warning("WAL checkpoint of %s failed", self.path, exc_info=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def _create_schema(writer: Session) -> None:
    await writer.execute("BEGIN IMMEDIATE")
    try:
        version = (await writer.fetchall("PRAGMA user_version"))[0][0]
        if version > SCHEMA_VERSION:
            raise PermanentStoreError(
                f"the database has schema version {version}; this Murmur knows up to {SCHEMA_VERSION}"
            )
        if version > 0:  # a file an older Murmur wrote: bring it forward step by step
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    await writer.execute(statement)
        for statement in TABLES:
            await writer.execute(statement)
        await writer.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await writer.execute("COMMIT")
    except BaseException:
        await writer.execute("ROLLBACK")
        raise
