"""The follow graph on Neptune, in openCypher over Bolt, with followers in blocks.

Layout (ids are the domain's ids as integers):

    (a:User)-[:FOLLOWS {seq, at}]->(b:User)                      the pair: a follows b
    (a:User)-[:MEMBER_OF {seq}]->(:FollowerBlock {key: "b:n"})   a in block n of b's followers

    User {id, followers, following, unfollows, follower_seq, block_size}

Every follow of b takes the next `seq` from b's counter `follower_seq` (follows ever made to
b) and joins block n = (seq - 1) // block_size, whose node is found by its unique, indexed
key "<b's id>:<n>". Block n of b holds exactly the followers with seq in
[n * block_size + 1, (n + 1) * block_size], fewer after unfollows. So:

- follower_spans reads b's counter (O(1)) and cuts seq 1..counter into ranges "lo:hi:size";
  followers_in looks up the blocks those seqs fall in by key and returns their members:
  its cost is the members of those blocks, whatever b's total. A span size that is a
  multiple of the block size (fan-out: 5000; blocks: 1000) reads no member outside it.
- followers() pages newest first by (seq, follower id) from the block the cursor is in
  downwards, a window of blocks per query: page 100 costs what page 1 does. Blocks emptied
  by unfollows still cost a lookup each (they are never compacted); a page that meets
  them reads further windows, doubling up to _MAX_WINDOW blocks.
- The counts (followers, following, unfollows) live on the User nodes and change in the
  same query as the edges, and only when an edge is made or removed: O(1) to read.

Why two edges per follow rather than one two-hop path (a)-[:FOLLOWS]->(block)-[:OF]->(b):
on that path, "does a follow b" has no edge between a and b to look up; it walks a's
follows (or b's blocks), so follow, unfollow, follows() (the API's viewerFollows) and
followers_among (fan-out's re-check, 5000 candidates of a celebrity) would cost
O(following) per pair. With FOLLOWS kept between the users, each pair is one edge lookup
between two nodes found by id (FalkorDB: "Expand Into"; Neptune: its SPOG index), and
MEMBER_OF serves only the block reads. The price: two edges per follow, written and
removed together in one query. following() still reads all of a's FOLLOWS edges per page
(ordered by `at`), as before: nobody follows half a million accounts.

The counter is per followee, so within b's followers seq is exact and unique: follows of b
conflict on b's node (FalkorDB runs writes one at a time; Neptune fails one of two
concurrent writers of a node with ConcurrentModificationException, which is retried), as
its follower count already did. `at` orders a's FOLLOWS edges for following(): strictly
increasing microseconds of this process's clock, ties between processes broken by id.

block_size is stored on each User node when the node is made, and every read uses the
node's own value, so changing the setting applies to users made afterwards and never
renumbers anyone's blocks.

Whether a follow is new is read in the query itself (OPTIONAL MATCH before CREATE): on
Neptune a mutation query locks what it read, and FalkorDB runs writes one at a time, so
two concurrent follows of the same pair create one edge and count it once.

Pre-1.0, this layout replaced one with a single (:User)-[:FOLLOWS]->(:User) edge per
follow and no counters; graphs in that layout are not migrated: start from an empty one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from neo4j import Record

from murmur.domain import InvalidInput, Page, PermanentStoreError, UserId
from murmur.settings import NeptuneSettings
from murmur.storage.base import FollowCounts
from murmur.storage.counting import counted
from murmur.storage.ids import known_ids, parse_id, require_id
from murmur.storage.neptune.bolt import BoltClient
from murmur.storage.neptune.messages import batches

DEFAULT_BLOCK_SIZE = 1000
_MAX_WINDOW = 32  # blocks per page query at most, once windows grow past sparse blocks


def _new_user(node: str) -> str:
    return (
        f"{node}.followers = 0, {node}.following = 0, {node}.unfollows = 0, "
        f"{node}.follower_seq = 0, {node}.block_size = $block_size"
    )


# rows: [follower, followee, at], each pair once per call (see _follow_rows). A clause runs
# over all rows before the next one reads (FalkorDB does; openCypher says so), so a
# counter SET on one row per followee is read back exactly, where a counter SET once per
# follow would be read back as its final value on every row. Hence: collect each
# followee's new followers (in call order, by `at`), take that many seqs at once, then
# hand them out by position.
_FOLLOW = f"""
UNWIND $rows AS row
MERGE (a:User {{id: row[0]}}) ON CREATE SET {_new_user("a")}
MERGE (b:User {{id: row[1]}}) ON CREATE SET {_new_user("b")}
WITH a, b, row[2] AS at
OPTIONAL MATCH (a)-[old:FOLLOWS]->(b)
WITH a, b, at, old WHERE old IS NULL
WITH a, b, at ORDER BY at
WITH b, collect(a) AS fans, collect(at) AS ats
SET b.follower_seq = b.follower_seq + size(fans), b.followers = b.followers + size(fans)
WITH b, fans, ats, b.follower_seq - size(fans) AS base
UNWIND range(0, size(fans) - 1) AS i
WITH b, fans[i] AS a, ats[i] AS at, base + i + 1 AS seq
MERGE (blk:FollowerBlock {{key: toString(b.id) + ':' + toString(toInteger((seq - 1) / b.block_size))}})
CREATE (a)-[:FOLLOWS {{seq: seq, at: at}}]->(b), (a)-[:MEMBER_OF {{seq: seq}}]->(blk)
SET a.following = a.following + 1
RETURN count(*) AS created
"""

# Both users are found by id before the edge is matched between them: a pattern with one
# end fixed by a constant is planned by FalkorDB as a walk of that end's edges. (In the
# block keys, toInteger keeps "n" an integer's text should an engine divide into floats.)
_UNFOLLOW = """
MATCH (a:User {id: $follower})
MATCH (b:User {id: $followee})
WITH a, b
MATCH (a)-[r:FOLLOWS]->(b)
WITH a, b, r, toString(b.id) + ':' + toString(toInteger((r.seq - 1) / b.block_size)) AS key
OPTIONAL MATCH (blk:FollowerBlock {key: key})
WITH a, b, r, blk
OPTIONAL MATCH (a)-[m:MEMBER_OF]->(blk)
DELETE r, m
SET a.following = a.following - 1, b.followers = b.followers - 1, b.unfollows = b.unfollows + 1
RETURN count(*) AS removed
"""

_FOLLOWS_ANY = """
MATCH (a:User {id: $follower})
UNWIND $ids AS id
MATCH (b:User {id: id})
WITH a, b
MATCH (a)-[:FOLLOWS]->(b)
RETURN b.id AS id
"""

_FOLLOWERS_AMONG = """
MATCH (b:User {id: $user})
UNWIND $ids AS id
MATCH (a:User {id: id})
WITH a, b
MATCH (a)-[:FOLLOWS]->(b)
RETURN a.id AS id
"""

_COUNTS = """
UNWIND $ids AS id
MATCH (u:User {id: id})
RETURN u.id AS id, u.followers AS followers, u.following AS following, u.unfollows AS unfollows
"""

_HEAD = """
MATCH (u:User {id: $user})
RETURN u.follower_seq AS last, u.block_size AS block_size, u.followers AS followers
"""

# Members of the blocks named by $keys after the cursor position, newest first. The block
# is matched on its own first: with the OR below in the same MATCH, FalkorDB scans every
# block instead of using the key index.
_BLOCKS_PAGE = """
UNWIND $keys AS key
MATCH (blk:FollowerBlock {key: key})
WITH blk
MATCH (blk)<-[m:MEMBER_OF]-(a:User)
WHERE m.seq < $seq OR (m.seq = $seq AND a.id < $other)
RETURN a.id AS id, m.seq AS seq
ORDER BY seq DESC, id DESC
LIMIT $limit
"""

_BLOCKS_SPAN = """
UNWIND $keys AS key
MATCH (blk:FollowerBlock {key: key})
WITH blk
MATCH (blk)<-[m:MEMBER_OF]-(a:User)
WHERE m.seq > $lo AND m.seq <= $hi
RETURN a.id AS id
"""

_FOLLOWING_PAGE = """
MATCH (:User {id: $user})-[r:FOLLOWS]->(other:User)
WHERE r.at < $seq OR (r.at = $seq AND other.id < $other)
RETURN other.id AS id, r.at AS seq
ORDER BY seq DESC, id DESC
LIMIT $limit
"""

_BEFORE_EVERY_EDGE = (1 << 62, 0)  # the first page's cursor position


def block_key(user: int, block: int) -> str:
    return f"{user}:{block}"


def _block_of(seq: int, block_size: int) -> int:
    return (seq - 1) // block_size  # -1 for seq 0: below every block


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


def _span(lo: int, hi: int, block_size: int) -> str:
    return f"{lo}:{hi}:{block_size}"


def _parse_span(span: str) -> tuple[int, int, int]:
    parts = [parse_id(part) for part in span.split(":")]
    match parts:
        case [int(lo), int(hi), int(block_size)] if lo < hi and block_size > 0:
            return lo, hi, block_size
    raise PermanentStoreError(f"not a follower span of this graph: {span!r}")


@dataclass(frozen=True, slots=True)
class _Head:
    last: int  # follows ever made to the user: the newest follower's seq
    block_size: int
    followers: int


class _SeqClock:
    """Strictly increasing microseconds since the Unix epoch (a later call never gets a
    smaller or equal value, even if the system clock steps back)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last


_clock = _SeqClock()  # one per process: `at` only grows, whichever instance writes


def _ids(records: list[Record]) -> set[UserId]:
    return {UserId(str(record["id"])) for record in records}


# Connection plumbing (open, close, ping) lives in BoltClient, so @counted, which wraps
# this class's own coroutine methods, counts graph operations only.
@counted("graph")
class NeptuneFollowGraph(BoltClient):
    _block_size = DEFAULT_BLOCK_SIZE

    @classmethod
    async def open(
        cls,
        settings: NeptuneSettings,
        *,
        follower_block_size: int = DEFAULT_BLOCK_SIZE,
        attempts: int = 3,
        connection_timeout: float = 10.0,
    ) -> Self:
        """Connect and prepare the server (BoltClient.open). follower_block_size: followers
        per block for users made from now on (existing users keep theirs)."""
        if follower_block_size < 1:
            raise ValueError(f"follower_block_size must be at least 1, not {follower_block_size}")
        graph = await super().open(settings, attempts=attempts, connection_timeout=connection_timeout)
        graph._block_size = follower_block_size
        return graph

    async def _prepare(self) -> None:
        # FalkorDB needs these indexes to find a node without a scan. Neptune indexes every
        # property itself and refuses the statement; FalkorDB refuses a second index.
        for index in ("(u:User) ON (u.id)", "(b:FollowerBlock) ON (b.key)"):
            with contextlib.suppress(PermanentStoreError):
                await self._run(f"CREATE INDEX FOR {index}", {})

    async def follow(self, *, follower: UserId, followee: UserId) -> bool:
        return await self._follow_rows([(require_id(follower), require_id(followee))]) == 1

    async def follow_many(self, *, pairs: Sequence[tuple[UserId, UserId]]) -> int:
        """Follow (follower, followee) pairs in order, in as few queries as fit the message
        limit; return how many edges are new. For seeding and benchmarks."""
        return await self._follow_rows([(require_id(a), require_id(b)) for a, b in pairs])

    async def _follow_rows(self, pairs: Sequence[tuple[int, int]]) -> int:
        # A pair twice in one query would be seen absent twice (OPTIONAL MATCH reads before
        # either CREATE): keep the first.
        rows = [[a, b, _clock.next()] for a, b in dict.fromkeys(pairs)]
        records = await self._run_batched(
            _FOLLOW, name="rows", rows=rows, fixed={"block_size": self._block_size}
        )
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

    async def followers_among(self, *, user_id: UserId, candidates: Sequence[UserId]) -> set[UserId]:
        b = parse_id(user_id)
        if b is None or not candidates:
            return set()
        records = await self._run_batched(
            _FOLLOWERS_AMONG, name="ids", rows=known_ids(candidates), fixed={"user": b}
        )
        return _ids(records)

    async def follow_counts(self, *, user_ids: Sequence[UserId]) -> dict[UserId, FollowCounts]:
        records = await self._run_batched(_COUNTS, name="ids", rows=known_ids(user_ids))
        found = {
            UserId(str(r["id"])): FollowCounts(
                followers=r["followers"], following=r["following"], unfollows=r["unfollows"]
            )
            for r in records
        }
        return {user_id: found.get(user_id, FollowCounts(0, 0)) for user_id in user_ids}

    async def _head(self, user: int) -> _Head | None:
        records = await self._run(_HEAD, {"user": user})
        if not records:
            return None
        r = records[0]
        return _Head(last=r["last"], block_size=r["block_size"], followers=r["followers"])

    async def follower_spans(self, *, user_id: UserId, size: int) -> list[str]:
        key = parse_id(user_id)
        head = await self._head(key) if key is not None else None
        if head is None or head.followers <= 0:
            return []
        size = max(1, size)
        # seq ranges aligned on multiples of size, newest first; the newest ends at the counter
        starts = range((head.last - 1) // size * size, -1, -size)
        return [_span(lo, min(lo + size, head.last), head.block_size) for lo in starts]

    async def followers_in(self, *, user_id: UserId, span: str) -> list[UserId]:
        lo, hi, block_size = _parse_span(span)
        key = parse_id(user_id)
        if key is None:
            return []
        # only the blocks that seqs lo+1..hi fall in
        blocks = range(_block_of(hi, block_size), _block_of(lo + 1, block_size) - 1, -1)
        records = await self._run_batched(
            _BLOCKS_SPAN, name="keys", rows=[block_key(key, n) for n in blocks], fixed={"lo": lo, "hi": hi}
        )
        return [UserId(str(r["id"])) for r in records]

    async def followers(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        seq, other = _parse_cursor(after)
        key = parse_id(user_id)
        if key is None or limit <= 0:
            return Page(items=[])
        head = await self._head(key)
        if head is None:
            return Page(items=[])
        wanted = limit + 1  # one more than asked says whether more follow
        top = _block_of(min(seq, head.last), head.block_size)  # the cursor's block (or the newest)
        # As many blocks as the page takes if none lost anyone: the top block holds at most
        # this many followers below the cursor (seqs from its first up to the cursor's).
        below = min(seq - 1, head.last) - top * head.block_size
        window = 1 + -(-max(0, wanted - below) // head.block_size)
        rows: list[Record] = []
        while top >= 0 and len(rows) < wanted:
            bottom = max(top - window, -1)
            keys = [block_key(key, n) for n in range(top, bottom, -1)]
            rows += await self._members_before(keys, seq, other, wanted - len(rows))
            # still short: the blocks read were thinned by unfollows; read more at a time
            top, window = bottom, min(window * 2, max(window, _MAX_WINDOW))
        page = rows[:limit]
        return Page(
            items=[UserId(str(r["id"])) for r in page],
            next_cursor=_cursor(page[-1]["seq"], page[-1]["id"]) if len(rows) > limit else None,
        )

    async def _members_before(self, keys: list[str], seq: int, other: int, wanted: int) -> list[Record]:
        """Up to `wanted` members of these blocks (newest first, consecutive) below the
        cursor position, newest first. Blocks hold disjoint, descending seq ranges, so
        the results of consecutive batches of keys follow one another in order."""
        fixed: dict[str, Any] = {"seq": seq, "other": other, "limit": wanted}
        rows: list[Record] = []
        for batch in batches(
            keys, query=_BLOCKS_PAGE, name="keys", fixed=fixed, max_bytes=self._max_message_bytes
        ):
            rows += await self._run(_BLOCKS_PAGE, {**fixed, "keys": batch, "limit": wanted - len(rows)})
            if len(rows) >= wanted:
                break
        return rows

    async def following(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        """Newest first by `at`; each page reads all of the user's FOLLOWS edges."""
        seq, other = _parse_cursor(after)
        key = parse_id(user_id)
        if key is None or limit <= 0:
            return Page(items=[])
        records = await self._run(
            _FOLLOWING_PAGE, {"user": key, "seq": seq, "other": other, "limit": limit + 1}
        )
        page = records[:limit]
        return Page(
            items=[UserId(str(r["id"])) for r in page],
            next_cursor=_cursor(page[-1]["seq"], page[-1]["id"]) if len(records) > limit else None,
        )
