"""The embedded backend: every store in one SQLite file (WAL), shared through one SqliteDatabase."""

from murmur.storage.sqlite.database import SqliteDatabase
from murmur.storage.sqlite.graph import SqliteFollowGraph
from murmur.storage.sqlite.ledger import SqliteFanoutLedger
from murmur.storage.sqlite.posts import SqlitePostStore
from murmur.storage.sqlite.queue import SqliteQueue
from murmur.storage.sqlite.timelines import SqliteTimelineStore
from murmur.storage.sqlite.users import SqliteUserStore

__all__ = [
    "SqliteDatabase",
    "SqliteFanoutLedger",
    "SqliteFollowGraph",
    "SqlitePostStore",
    "SqliteQueue",
    "SqliteTimelineStore",
    "SqliteUserStore",
]
