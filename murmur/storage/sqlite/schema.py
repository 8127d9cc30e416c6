"""The schema, created idempotently; PRAGMA user_version records which version a file holds.

Ids are INTEGER (the domain's 53-bit time-ordered ids), so ordering by id is
ordering by creation time and every "newest first" read walks an index backwards.
"""

from __future__ import annotations

SCHEMA_VERSION = 4

TABLES = (
    # users ----------------------------------------------------------------------------
    """CREATE TABLE IF NOT EXISTS users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL COLLATE NOCASE UNIQUE,  -- unique case-insensitively
        display_name  TEXT NOT NULL,
        bio           TEXT NOT NULL,
        created_at    INTEGER NOT NULL,                     -- ms since the Unix epoch
        password_hash TEXT NOT NULL,
        last_active   INTEGER,                              -- ms; NULL: never recorded (created_at counts)
        token_version INTEGER NOT NULL DEFAULT 0            -- tokens of another version are revoked
    )""",
    # posts and their outbox -----------------------------------------------------------
    """CREATE TABLE IF NOT EXISTS posts (
        id         INTEGER PRIMARY KEY,
        author_id  INTEGER NOT NULL,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,  -- ms; equal to id_time(id) for posts minted now
        delivery   TEXT NOT NULL      -- 'pushed' | 'pulled'
    )""",
    # delivery too, so reads filtered by it are answered from the index alone
    "CREATE INDEX IF NOT EXISTS posts_by_author ON posts (author_id, id, delivery)",
    # pull reads ask only for pulled posts; a partial index skips the pushed majority
    # (delivery in it too, or SQLite prefers the covering posts_by_author and walks every post)
    "CREATE INDEX IF NOT EXISTS posts_pulled_by_author ON posts (author_id, id, delivery)"
    " WHERE delivery = 'pulled'",
    """CREATE TABLE IF NOT EXISTS outbox (
        seq           INTEGER PRIMARY KEY,  -- save order
        id            TEXT NOT NULL UNIQUE, -- chosen by the caller
        body          BLOB NOT NULL,
        saved_at      REAL NOT NULL,        -- unix seconds
        claimed_until REAL NOT NULL DEFAULT 0  -- a relay holds the row until then (unix seconds)
    )""",
    # fan-out progress: each planned fan-out's chunks (a JSON array of follower spans), and
    # the chunks that are done
    """CREATE TABLE IF NOT EXISTS fanout_plans (
        task       TEXT PRIMARY KEY,
        spans      TEXT NOT NULL,
        planned_at REAL NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS fanout_done (
        task  TEXT NOT NULL,
        chunk INTEGER NOT NULL,
        PRIMARY KEY (task, chunk)
    ) WITHOUT ROWID""",
    # follow graph ---------------------------------------------------------------------
    # seq orders edges newest first and is the paging cursor; AUTOINCREMENT never
    # reuses one, so a cursor handed out stays a valid position after unfollows
    """CREATE TABLE IF NOT EXISTS follows (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        follower INTEGER NOT NULL,
        followee INTEGER NOT NULL,
        UNIQUE (follower, followee)
    )""",
    "CREATE INDEX IF NOT EXISTS follows_by_followee ON follows (followee, seq)",
    "CREATE INDEX IF NOT EXISTS follows_by_follower ON follows (follower, seq)",
    # kept in the same transaction as the edges: O(1) counts for a 500K-follower user
    """CREATE TABLE IF NOT EXISTS follow_counts (
        user_id   INTEGER PRIMARY KEY,
        followers INTEGER NOT NULL DEFAULT 0,
        following INTEGER NOT NULL DEFAULT 0,
        unfollows INTEGER NOT NULL DEFAULT 0  -- followers lost, ever (never goes down)
    )""",
    # materialised timelines ------------------------------------------------------------
    # Clustered by owner, so a timeline read is one short range scan. No index on
    # (owner, author_id): remove_author scans one owner's range, which the cap keeps
    # short (50 us at 800 entries, 25 us with the index), while the index doubled the
    # cost of a fan-out (a second set of random page writes per owner).
    """CREATE TABLE IF NOT EXISTS timelines (
        owner     INTEGER NOT NULL,
        post_id   INTEGER NOT NULL,
        author_id INTEGER NOT NULL,
        PRIMARY KEY (owner, post_id)
    ) WITHOUT ROWID""",
    # each timeline's floor (see TimelineStore): exact at and above it; no row means 0
    """CREATE TABLE IF NOT EXISTS timeline_floors (
        owner INTEGER PRIMARY KEY,
        floor INTEGER NOT NULL
    )""",
    # work queue -----------------------------------------------------------------------
    # AUTOINCREMENT: an id is never reused, so a receipt (id, delivery) names one delivery
    """CREATE TABLE IF NOT EXISTS queue_messages (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        queue         TEXT NOT NULL,
        body          BLOB NOT NULL,
        visible_at    REAL NOT NULL,  -- unix seconds
        receive_count INTEGER NOT NULL DEFAULT 0,
        sent_at       REAL NOT NULL DEFAULT 0,  -- unix seconds
        dedup_key     TEXT              -- as sent (the window is kept in queue_dedup)
    )""",
    "CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at)",
    # deduplication as SQS FIFO does it: a key is remembered for a window (5 minutes) from its
    # first send, whatever became of that message; rows older than the window are pruned on send
    """CREATE TABLE IF NOT EXISTS queue_dedup (
        queue         TEXT NOT NULL,
        dedup_key     TEXT NOT NULL,
        first_sent_at REAL NOT NULL,  -- unix seconds
        PRIMARY KEY (queue, dedup_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS queue_dedup_by_age ON queue_dedup (queue, first_sent_at)",
    """CREATE TABLE IF NOT EXISTS queue_dead_letters (
        id            INTEGER PRIMARY KEY,  -- the message's id in queue_messages
        queue         TEXT NOT NULL,
        body          BLOB NOT NULL,
        receive_count INTEGER NOT NULL,
        dead_at       REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS queue_dead_letters_by_queue ON queue_dead_letters (queue, id)",
)

# From one version to the next, for files an older Murmur wrote (TABLES then creates what is new).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE users ADD COLUMN last_active INTEGER",
        "ALTER TABLE outbox ADD COLUMN claimed_until REAL NOT NULL DEFAULT 0",
        "ALTER TABLE follow_counts ADD COLUMN unfollows INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE queue_messages ADD COLUMN sent_at REAL NOT NULL DEFAULT 0",
        "ALTER TABLE queue_messages ADD COLUMN dedup_key TEXT",
        # version 1 trimmed every timeline on each write, so each is exact down to its oldest
        # entry (one that was never trimmed is exact all the way; a refill finds that out)
        "CREATE TABLE timeline_floors (owner INTEGER PRIMARY KEY, floor INTEGER NOT NULL)",
        "INSERT INTO timeline_floors (owner, floor) SELECT owner, min(post_id) FROM timelines GROUP BY owner",
        "DROP TABLE timeline_sizes",
    ),
    3: ("ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0",),
    # dedup keys move from a unique index on the messages (dropped while a message is here) to
    # a window from the first send (SQS FIFO's rule); the keys of messages still here start it
    4: (
        "CREATE TABLE queue_dedup (queue TEXT NOT NULL, dedup_key TEXT NOT NULL,"
        " first_sent_at REAL NOT NULL, PRIMARY KEY (queue, dedup_key)) WITHOUT ROWID",
        "INSERT INTO queue_dedup (queue, dedup_key, first_sent_at) SELECT queue, dedup_key, min(sent_at)"
        " FROM queue_messages WHERE dedup_key IS NOT NULL GROUP BY queue, dedup_key",
        "DROP INDEX IF EXISTS queue_messages_dedup",
    ),
}
