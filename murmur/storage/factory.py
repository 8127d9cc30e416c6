"""Build the stores a running Murmur uses from settings alone.

Each profile's builder imports its drivers itself, so the embedded shape never
loads a cloud client library (and a machine without them runs it fine).
"""

from __future__ import annotations

from murmur.settings import Profile, Settings
from murmur.storage.bundle import Backends


async def open_backends(settings: Settings) -> Backends:
    """Open every store for settings.profile; close them with `await backends.close()`."""
    if settings.profile is Profile.EMBEDDED:
        return await _open_embedded(settings)
    raise NotImplementedError(
        f"the {settings.profile.value!r} profile's backends (MongoDB, Neptune, DynamoDB, Redis, SQS) "
        f"are not implemented yet; run with MURMUR_PROFILE={Profile.EMBEDDED.value}"
    )


async def _open_embedded(settings: Settings) -> Backends:
    """Every store in one SQLite file, with the cache and the event bus in process."""
    from murmur.storage.memory import LocalEventBus, MemoryCache
    from murmur.storage.sqlite import (
        SqliteDatabase,
        SqliteFollowGraph,
        SqlitePostStore,
        SqliteQueue,
        SqliteTimelineStore,
        SqliteUserStore,
    )

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = await SqliteDatabase.open(settings.sqlite_path)
    return Backends(
        users=SqliteUserStore(db=db),
        posts=SqlitePostStore(db=db),
        graph=SqliteFollowGraph(db=db),
        timelines=SqliteTimelineStore(db=db, cap=settings.timeline_max),
        cache=MemoryCache(),
        bus=LocalEventBus(),
        queue=SqliteQueue(
            db=db,
            visibility_timeout_seconds=settings.workers.visibility_timeout_seconds,
            max_receives=settings.workers.max_receives,
        ),
        resources=[db],
    )
