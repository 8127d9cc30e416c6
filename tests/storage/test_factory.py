"""open_backends builds the embedded bundle from settings, and says plainly what is not built yet."""

from __future__ import annotations

from pathlib import Path

from murmur.settings import Settings
from murmur.storage.base import Outgoing
from murmur.storage.factory import open_backends
from murmur.storage.memory import LocalEventBus, MemoryCache
from murmur.storage.sqlite import (
    SqliteDatabase,
    SqliteFanoutLedger,
    SqliteFollowGraph,
    SqlitePostStore,
    SqliteQueue,
    SqliteTimelineStore,
    SqliteUserStore,
)


async def test_the_embedded_profile_is_one_sqlite_file_and_in_process_helpers(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "not" / "there" / "yet",
        timeline_max=42,
        workers={"visibility_timeout_seconds": 7, "max_receives": 2},
    )
    backends = await open_backends(settings)
    try:
        assert settings.sqlite_path.exists()
        assert isinstance(backends.users, SqliteUserStore)
        assert isinstance(backends.posts, SqlitePostStore)
        assert isinstance(backends.graph, SqliteFollowGraph)
        assert isinstance(backends.timelines, SqliteTimelineStore)
        assert isinstance(backends.queue, SqliteQueue)
        assert isinstance(backends.bulk_queue, SqliteQueue)
        assert isinstance(backends.ledger, SqliteFanoutLedger)
        assert isinstance(backends.cache, MemoryCache)
        assert isinstance(backends.bus, LocalEventBus)
        assert backends.timelines.cap == 42
        assert [type(r) for r in backends.resources] == [SqliteDatabase]
        # by role, never by class: every role on the one file answers with it
        stores = ("users", "posts", "graph", "timelines", "queue", "bulk_queue", "ledger")
        assert await backends.ping() == dict.fromkeys(stores, True)

        await backends.queue.send(messages=[Outgoing(b"task")])
        assert (await backends.bulk_queue.depth()).visible == 0  # the lanes do not mix
        for _ in range(2):
            (message,) = await backends.queue.receive(max_messages=1, wait_seconds=0)
            await backends.queue.retry_later(receipt=message.receipt, delay_seconds=0)
        assert await backends.queue.receive(max_messages=1, wait_seconds=0) == []  # max_receives=2
    finally:
        await backends.close()
