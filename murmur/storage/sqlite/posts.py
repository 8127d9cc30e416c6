"""Posts, and the outbox of fan-out events saved in the same transaction as each change."""

from __future__ import annotations

import time
from collections.abc import Sequence

from murmur.domain import Delivery, IdTaken, Post, PostId, UserId
from murmur.storage.base import OutboxMessage
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.sqlite.codec import cursor_bound, from_ms, json_array, to_ms
from murmur.storage.sqlite.database import Row, Session, SqliteDatabase

_COLUMNS = "id, author_id, body, created_at, delivery"

# Newest `limit` posts by any of the authors, older than `before`. Each author's own
# newest `limit` are found first (the `floor` walks at most `limit` entries of the
# author's index), so the sort handles authors x limit ids however many posts the
# authors have written, and all of it runs in covering indexes: only the `limit` posts
# returned are read from the table. {filter_q} and {filter_p} are empty or a literal
# delivery test: a literal lets SQLite pick the partial index of pulled posts.
_RECENT_POSTS = """
WITH authors AS (
    SELECT a.value AS author_id,
           (SELECT q.id FROM posts AS q
             WHERE q.author_id = a.value AND q.id < :before {filter_q}
             ORDER BY q.id DESC LIMIT 1 OFFSET :limit - 1) AS floor
      FROM json_each(:authors) AS a
),
newest AS (
    SELECT p.id
      FROM authors AS a
      JOIN posts AS p ON p.author_id = a.author_id AND p.id < :before AND p.id >= coalesce(a.floor, 0) {filter_p}
     ORDER BY p.id DESC
     LIMIT :limit
)
SELECT id, author_id, body, created_at, delivery FROM posts WHERE id IN (SELECT id FROM newest) ORDER BY id DESC
"""
_DELIVERY_FILTER = {
    None: "",
    Delivery.PUSHED: "AND {t}.delivery = 'pushed'",
    Delivery.PULLED: "AND {t}.delivery = 'pulled'",
}
RECENT_POSTS_SQL = {
    delivery: _RECENT_POSTS.format(filter_q=test.format(t="q"), filter_p=test.format(t="p"))
    for delivery, test in _DELIVERY_FILTER.items()
}
# The newest posts of everyone, newest first: the scan that serves readers who follow many
_NEWEST = "SELECT id, author_id, delivery FROM posts WHERE id < ? ORDER BY id DESC LIMIT ?"

# Past this many authors x posts asked for, the per-author query (which walks up to `limit`
# entries of each author's index) costs more than scanning the newest posts of everyone and
# keeping the authors' ones: at 5,000 followees and a page of 21, 27 ms against about 1 ms.
WINDOW_FROM = 4000
FIRST_WINDOW = 8  # x limit; each next window doubles
WINDOW_SCAN_MAX = 8192  # rows scanned before the per-author query takes over (sparse authors)


def _post(row: Row) -> Post:
    return Post(
        id=PostId(str(row[0])),
        author_id=UserId(str(row[1])),
        body=row[2],
        created_at=from_ms(row[3]),
        delivery=Delivery(row[4]),
    )


async def _save_outbox(tx: Session, message: OutboxMessage, held_seconds: float = 0.0) -> None:
    now = time.time()
    await tx.execute(
        "INSERT INTO outbox (id, body, saved_at, claimed_until) VALUES (?, ?, ?, ?)",
        (message.id, message.body, now, now + held_seconds if held_seconds > 0 else 0.0),
    )


@counted("posts")
class SqlitePostStore:
    def __init__(self, *, db: SqliteDatabase) -> None:
        self._db = db

    async def create_post(self, *, post: Post, outbox: OutboxMessage) -> None:
        async with self._db.write() as tx:
            if await tx.fetchone("SELECT 1 FROM posts WHERE id = ?", (require_id(post.id),)):
                raise IdTaken(f"post id {post.id} is in use")
            await tx.execute(
                f"INSERT INTO posts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (
                    require_id(post.id),
                    require_id(post.author_id),
                    post.body,
                    to_ms(post.created_at),
                    post.delivery.value,
                ),
            )
            await _save_outbox(tx, outbox)

    async def import_posts(self, *, posts: Sequence[Post]) -> None:
        async with self._db.write() as tx:
            await tx.executemany(
                f"INSERT INTO posts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        require_id(p.id),
                        require_id(p.author_id),
                        p.body,
                        to_ms(p.created_at),
                        p.delivery.value,
                    )
                    for p in posts
                ],
            )

    async def delete_post(self, *, post_id: PostId, outbox: OutboxMessage) -> Post | None:
        key = parse_id(post_id)
        if key is None:
            return None
        async with self._db.write() as tx:
            row = await tx.fetchone(f"DELETE FROM posts WHERE id = ? RETURNING {_COLUMNS}", (key,))
            if row is None:
                return None
            await _save_outbox(tx, outbox)
        return _post(row)

    async def save_outbox(self, *, message: OutboxMessage, held_seconds: float = 0.0) -> None:
        async with self._db.write() as tx:
            await _save_outbox(tx, message, held_seconds)

    async def posts_by_id(self, *, ids: Sequence[PostId]) -> dict[PostId, Post]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM posts WHERE id IN (SELECT value FROM json_each(?))",
            (json_array(known_ids(ids)),),
        )
        return {post.id: post for post in map(_post, rows)}

    async def recent_posts(
        self,
        *,
        author_ids: Sequence[UserId],
        before: PostId | None,
        limit: int,
        delivery: Delivery | None = None,
    ) -> list[Post]:
        if limit <= 0 or not author_ids:
            return []
        bound = cursor_bound(before, field="before")
        if len(author_ids) * limit > WINDOW_FROM:
            return await self._by_windows(set(author_ids), bound, limit, delivery)
        authors = known_ids(dict.fromkeys(author_ids))  # a repeated author would repeat posts
        return await self._per_author(authors, bound, limit, delivery) if authors else []

    async def _per_author(
        self, authors: list[int], bound: int, limit: int, delivery: Delivery | None
    ) -> list[Post]:
        rows = await self._db.fetchall(
            RECENT_POSTS_SQL[delivery], {"authors": json_array(authors), "before": bound, "limit": limit}
        )
        return [_post(row) for row in rows]

    async def _by_windows(
        self, wanted: set[UserId], bound: int, limit: int, delivery: Delivery | None
    ) -> list[Post]:
        """Scan the newest posts of everyone in growing windows and keep the authors' ones;
        whatever the scan does not reach (the authors post rarely) comes from the
        per-author query, below where the scan stopped. Exact either way. The authors stay
        strings: parsing 5,000 of them would cost more than the scan (a malformed one
        matches no stored author either way)."""
        kind = delivery.value if delivery else None
        found: list[int] = []
        window, scanned = FIRST_WINDOW * limit, 0
        while len(found) < limit and scanned < WINDOW_SCAN_MAX:
            rows = await self._db.fetchall(_NEWEST, (bound, window))
            found += [pid for pid, author, d in rows if str(author) in wanted and (kind is None or d == kind)]
            if len(rows) < window:  # the oldest post was scanned: nothing more to find
                break
            bound, scanned, window = rows[-1][0], scanned + window, window * 2
        else:
            if len(found) < limit:
                rest = await self._per_author(known_ids(wanted), bound, limit - len(found), delivery)
                return await self._load(found) + rest
        return await self._load(found[:limit])

    async def _load(self, ids: list[int]) -> list[Post]:
        """Whole posts for ids, in the order given (newest first)."""
        if not ids:
            return []
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM posts WHERE id IN (SELECT value FROM json_each(?))", (json_array(ids),)
        )
        by_id = {row[0]: row for row in rows}
        return [_post(by_id[i]) for i in ids if i in by_id]

    async def pulled_authors(self, *, author_ids: Sequence[UserId]) -> set[UserId]:
        rows = await self._db.fetchall(
            "SELECT a.value FROM json_each(?) AS a WHERE EXISTS"
            " (SELECT 1 FROM posts AS p WHERE p.author_id = a.value AND p.delivery = 'pulled')",
            (json_array(known_ids(dict.fromkeys(author_ids))),),
        )
        return {UserId(str(row[0])) for row in rows}

    async def count_posts(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM posts")
        return int(row[0]) if row else 0

    async def claim_outbox(
        self, *, older_than_seconds: float, limit: int, lease_seconds: float
    ) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        now = time.time()
        async with self._db.write() as tx:
            rows = await tx.fetchall(
                "UPDATE outbox SET claimed_until = :until WHERE seq IN ("
                " SELECT seq FROM outbox WHERE saved_at <= :saved AND claimed_until <= :now"
                " ORDER BY seq LIMIT :limit) RETURNING seq, id, body",
                {"until": now + lease_seconds, "saved": now - older_than_seconds, "now": now, "limit": limit},
            )
        return [OutboxMessage(id=row[1], body=row[2]) for row in sorted(rows)]

    async def outbox_published(self, *, ids: Sequence[str]) -> None:
        if not ids:
            return
        async with self._db.write() as tx:
            await tx.execute(
                "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))", (json_array(ids),)
            )
