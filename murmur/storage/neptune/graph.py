"""The follow graph on Neptune, in openCypher over Bolt.

Model: (:User {id, followers, following})-[:FOLLOWS {seq}]->(:User). Ids are the
domain's ids as integers. The counts live on the nodes and change in the same query
that creates or deletes an edge, and only when it does: reading them is O(1) however
many followers a user has.

seq orders edges newest first: strictly increasing microseconds of this process's clock,
assigned when the edge is created (following again after unfollowing moves an edge to
the head). It needs no shared counter, which would serialise every follow in the graph
on one node. Two processes can mint the same value, so pages are ordered by (seq, the
other user's id), a total order, and the cursor is a position in it: paging never
repeats or skips an edge, whatever the clocks do. Across processes "most recent first"
is as exact as their clocks agree.

Whether a follow is new is read in the query itself (OPTIONAL MATCH before CREATE): on
Neptune a mutation query locks what it read, and FalkorDB runs writes one at a time, so
two concurrent follows of the same pair create one edge and count it once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

from neo4j import Record

from murmur.domain import InvalidInput, Page, PermanentStoreError, UserId
from murmur.storage.base import FollowCounts
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.neptune.bolt import BoltClient

# rows: [follower, followee, seq], each pair once per call (see _follow_rows). The rows
# run in order, each SET seeing the counts that earlier rows left, as openCypher specifies.
_FOLLOW = """
UNWIND $rows AS row
MERGE (a:User {id: row[0]}) ON CREATE SET a.followers = 0, a.following = 0
MERGE (b:User {id: row[1]}) ON CREATE SET b.followers = 0, b.following = 0
WITH a, b, row
OPTIONAL MATCH (a)-[old:FOLLOWS]->(b)
WITH a, b, row, old WHERE old IS NULL
CREATE (a)-[:FOLLOWS {seq: row[2]}]->(b)
SET a.following = a.following + 1, b.followers = b.followers + 1
RETURN count(*) AS created
"""

_UNFOLLOW = """
MATCH (a:User {id: $follower})-[r:FOLLOWS]->(b:User {id: $followee})
DELETE r
SET a.following = a.following - 1, b.followers = b.followers - 1
RETURN count(*) AS removed
"""

_FOLLOWS_ANY = """
UNWIND $ids AS id
MATCH (:User {id: $follower})-[:FOLLOWS]->(b:User {id: id})
RETURN b.id AS id
"""

_COUNTS = """
UNWIND $ids AS id
MATCH (u:User {id: id})
RETURN u.id AS id, u.followers AS followers, u.following AS following
"""


def _page_query(pattern: str) -> str:
    """Edges matching pattern (binding r and other) after the cursor position, newest first."""
    return f"""
MATCH {pattern}
WHERE r.seq < $seq OR (r.seq = $seq AND other.id < $other)
RETURN other.id AS id, r.seq AS seq
ORDER BY seq DESC, id DESC
LIMIT $limit
"""


_FOLLOWERS_PAGE = _page_query("(other:User)-[r:FOLLOWS]->(:User {id: $user})")
_FOLLOWING_PAGE = _page_query("(:User {id: $user})-[r:FOLLOWS]->(other:User)")
_BEFORE_EVERY_EDGE = (1 << 62, 0)  # the first page's cursor position


def _cursor(seq: int, other: int) -> str:
    return f"{seq}_{other}"


def _parse_cursor(cursor: str | None) -> tuple[int, int]:
    if cursor is None:
        return _BEFORE_EVERY_EDGE
    seq, _, other = cursor.partition("_")
    position = parse_id(seq), parse_id(other)
    if position[0] is None or position[1] is None:
        raise InvalidInput("Invalid cursor.", field="after")
    return position[0], position[1]


class _SeqClock:
    """Strictly increasing microseconds since the Unix epoch (a later call never gets a
    smaller or equal value, even if the system clock steps back)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last


_clock = _SeqClock()  # one per process: seq only grows, whichever instance writes


def _ids(records: list[Record]) -> set[UserId]:
    return {UserId(str(record["id"])) for record in records}


# Connection plumbing (open, close, ping) lives in BoltClient, so @counted, which wraps
# this class's own coroutine methods, counts graph operations only.
@counted("graph")
class NeptuneFollowGraph(BoltClient):
    async def _prepare(self) -> None:
        # FalkorDB needs this index to find a user without a scan. Neptune indexes every
        # property itself and refuses the statement; FalkorDB refuses a second index.
        with contextlib.suppress(PermanentStoreError):
            await self._run("CREATE INDEX FOR (u:User) ON (u.id)", {})

    async def follow(self, *, follower: UserId, followee: UserId) -> bool:
        return await self._follow_rows([(require_id(follower), require_id(followee))]) == 1

    async def follow_many(self, *, pairs: Sequence[tuple[UserId, UserId]]) -> int:
        """Follow (follower, followee) pairs in order, in as few queries as fit the message
        limit; return how many edges are new. For seeding and benchmarks."""
        return await self._follow_rows([(require_id(a), require_id(b)) for a, b in pairs])

    async def _follow_rows(self, pairs: Sequence[tuple[int, int]]) -> int:
        # A pair twice in one query would be seen absent twice (OPTIONAL MATCH reads before
        # either CREATE on engines that run a clause over all rows at once): keep the first.
        rows = [[a, b, _clock.next()] for a, b in dict.fromkeys(pairs)]
        records = await self._run_batched(_FOLLOW, name="rows", rows=rows)
        return sum(int(record["created"]) for record in records)

    async def unfollow(self, *, follower: UserId, followee: UserId) -> bool:
        a, b = parse_id(follower), parse_id(followee)
        if a is None or b is None:
            return False
        records = await self._run(_UNFOLLOW, {"follower": a, "followee": b})
        return int(records[0]["removed"]) > 0

    async def follows(self, *, follower: UserId, followees: Sequence[UserId]) -> set[UserId]:
        a = parse_id(follower)
        if a is None or not followees:
            return set()
        records = await self._run_batched(
            _FOLLOWS_ANY, name="ids", rows=known_ids(followees), fixed={"follower": a}
        )
        return _ids(records)

    async def follow_counts(self, *, user_ids: Sequence[UserId]) -> dict[UserId, FollowCounts]:
        records = await self._run_batched(_COUNTS, name="ids", rows=known_ids(user_ids))
        found = {
            UserId(str(r["id"])): FollowCounts(followers=r["followers"], following=r["following"])
            for r in records
        }
        return {user_id: found.get(user_id, FollowCounts(0, 0)) for user_id in user_ids}

    async def followers(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        return await self._page(_FOLLOWERS_PAGE, user_id, after, limit)

    async def following(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        return await self._page(_FOLLOWING_PAGE, user_id, after, limit)

    async def _page(self, query: str, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        """One page of edges, newest first; one row more than asked says whether more follow."""
        (seq, other), key = _parse_cursor(after), parse_id(user_id)
        if key is None or limit <= 0:
            return Page(items=[])
        records = await self._run(query, {"user": key, "seq": seq, "other": other, "limit": limit + 1})
        page, more = records[:limit], len(records) > limit
        return Page(
            items=[UserId(str(r["id"])) for r in page],
            next_cursor=_cursor(page[-1]["seq"], page[-1]["id"]) if more else None,
        )
