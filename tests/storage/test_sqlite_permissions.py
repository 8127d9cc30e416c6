"""Security review, issue 16, finding 10: the SQLite file holds password hashes, so it and its
-wal and -shm files are 0600 in a 0700 folder, whatever the umask lets files be created."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from murmur.settings import Settings
from murmur.storage.factory import open_backends
from murmur.storage.sqlite import SqliteDatabase


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask (files 0644, folders 0755 unless asked otherwise)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


async def test_a_new_database_is_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "murmur.db"
    db = await SqliteDatabase.open(path)
    try:
        async with db.write() as tx:  # the -wal and -shm exist while the database is open
            await tx.execute("INSERT INTO follow_counts (user_id, followers) VALUES (1, 1)")
        files = {p.name: mode(p) for p in path.parent.iterdir()}
    finally:
        await db.close()
    assert files == {"murmur.db": 0o600, "murmur.db-wal": 0o600, "murmur.db-shm": 0o600}
    assert mode(path.parent) == 0o700


async def test_what_the_factory_opens_is_private_too(tmp_path: Path) -> None:
    """The factory creates the data folder first (0755 under this umask): opening tightens it."""
    settings = Settings(data_dir=tmp_path / "data")
    backends = await open_backends(settings)
    try:
        assert mode(settings.data_dir) == 0o700
        assert {p.name: mode(p) for p in settings.data_dir.iterdir()} == {
            "murmur.db": 0o600,
            "murmur.db-wal": 0o600,
            "murmur.db-shm": 0o600,
        }
        settings.jwt_secret()
        assert mode(settings.data_dir / "dev-jwt-secret") == 0o600
    finally:
        await backends.close()


async def test_an_older_open_folder_and_file_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    path = folder / "murmur.db"
    await (await SqliteDatabase.open(path)).close()  # as an older Murmur left it: open to all
    path.chmod(0o644)
    folder.chmod(0o755)
    db = await SqliteDatabase.open(path)
    try:
        assert (mode(folder), mode(path)) == (0o700, 0o600)
    finally:
        await db.close()


async def test_a_shared_folder_is_only_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A folder holding other things (a home, a volume's root) is not Murmur's to change."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    (folder / "notes.txt").write_text("someone else's")
    with caplog.at_level(logging.WARNING):
        db = await SqliteDatabase.open(folder / "murmur.db")
    await db.close()
    assert mode(folder) == 0o755 and mode(folder / "murmur.db") == 0o600
    assert any("can be opened by other users (mode 755)" in r.getMessage() for r in caplog.records)


async def test_a_folder_holding_another_users_file_is_not_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: the folder was judged Murmur's by the names in it alone, so one where another
    user had planted dev-jwt-secret was tightened and taken as ours. A file this user does
    not own makes the folder shared: left as it is, with a warning."""
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o1777)  # a shared drop folder, as /tmp is
    planted = folder / "dev-jwt-secret"
    planted.write_text("planted")
    real_stat = Path.stat

    def stat_as_owned_by_nobody(self: Path, **kwargs: object) -> os.stat_result:
        found = real_stat(self, **kwargs)  # type: ignore[arg-type]
        if self == planted:
            fields = list(found)
            fields[stat.ST_UID] = 65534
            return os.stat_result(fields)
        return found

    monkeypatch.setattr(Path, "stat", stat_as_owned_by_nobody)
    with caplog.at_level(logging.WARNING):
        db = await SqliteDatabase.open(folder / "murmur.db")
    await db.close()
    assert mode(folder) == 0o1777
    assert any("holds their files" in r.getMessage() for r in caplog.records)
