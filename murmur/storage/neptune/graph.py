"""The follow graph on Neptune, in openCypher over Bolt, with followers in blocks.

Layout (ids are the domain's ids as integers):

    (a:User)-[:FOLLOWS {seq, at}]->(b:User)                      the pair: a follows b
    (a:User)-[:MEMBER_OF {seq}]->(:FollowerBlock {key: "b:n"})   a in block n of b's followers

    User {id, followers, following, unfollows, follower_seq, block_size, counted_from}
    FollowerBlock {key, owner, n, members}     owner: b's id; members: its MEMBER_OF edges

Every follow of b takes the next `seq` from b's counter `follower_seq` (follows ever made to
b) and joins block n = (seq - 1) // block_size, whose node is found by its unique, indexed
key "<b's id>:<n>". Block n of b holds exactly the followers with seq in
[n * block_size + 1, (n + 1) * block_size], fewer after unfollows. A block counts its
members in the same query that adds or removes them (a follow query adds to each block
once, for all its new members), and the unfollow that takes its last member deletes it:
only blocks that hold someone exist (compaction). So:

- follower_spans lists b's blocks by the index on `owner`, with b's node, in one query
  (O(live blocks): 10 M follows and 1 follower left is one block, one span), and groups
  them newest first into spans of about `size` members, at most SPAN_MAX_BLOCKS blocks
  each; a block with more members than `size` is cut alone by seq (cut_spans). A span
  "lo:hi/9-7,4" names its blocks and seq bounds; followers_in looks up those blocks by key
  and returns their members with seq in lo+1..hi: its cost is the members of the blocks
  it names, whatever b's total or history.
- Spans and compaction race safely. Every follow and unfollow of b writes b's node, so
  they are serialised per followee (FalkorDB runs writes one at a time; Neptune fails one
  of two concurrent writers with ConcurrentModificationException, retried), and a block's
  count is exact. A follower is always in an existing block (the follow that puts them
  there merges the block in the same query), so every current follower is in a block
  listed by the one query that cuts the spans (one read: a snapshot on Neptune, and
  between two writes on FalkorDB), hence in exactly one span. A block deleted
  after the cut reads as empty; a follow that makes it again (only the newest block can
  be: seqs only grow) adds a later follower, who may or may not be read, as the protocol
  allows. A follower who leaves and comes back gets a new seq, as before.
- followers() pages newest first by (seq, follower id) from the block the cursor is in
  downwards, a window of blocks per query: page 100 costs what page 1 does. Blocks deleted
  by compaction still cost a key lookup each (a miss in the index); a page that meets
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

Blocks made before blocks were counted (no owner, n or members; users without
counted_from) are not migrated. Such a user's spans cut seq 1..follower_seq as before
("lo:hi:block_size", spans of seqs, read by key: every follow ever made costs its share
again) until its first follow here, which sets counted_from to the block after its newest
and moves follower_seq to that block's start: from then on, old blocks (n < counted_from)
are cut by seq as before and never deleted (their members stay null), and newer blocks are
counted, listed and compacted. followers_in still reads a "lo:hi:block_size" span, so
chunks queued before an upgrade are read as they were cut. Run one version at a time
against a graph (stop the old writers, then start the new): a follow the old code writes
after the new code's first follow of the same user is not counted, so no span may list its
block, and compaction may delete that block with the follower still in it.

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
SPAN_MAX_BLOCKS = 64  # blocks one span names at most (a chunk's reads, whatever the blocks hold)


def _new_user(node: str) -> str:
    return (
        f"{node}.followers = 0, {node}.following = 0, {node}.unfollows = 0, "
        f"{node}.follower_seq = 0, {node}.block_size = $block_size, {node}.counted_from = 0"
    )


# rows: [follower, followee, at], each pair once per call (see _follow_rows). A clause runs
# over all rows before the next one reads (FalkorDB does; openCypher says so), so a
# counter SET on one row per followee is read back exactly, where a counter SET once per
# follow would be read back as its final value on every row. Hence: collect each
# followee's new followers (in call order, by `at`), take that many seqs at once, then
# hand them out by position. The same goes for a block's `members`: the new followers are
# grouped by block, and each block is merged and counted once per query.
#
# counted_from is 0 for every user made since blocks are counted. A user made before has
# none: its first follow here sets it to the block after its newest (old, uncounted) one and
# moves follower_seq up to that block's start, so no block holds both counted and uncounted
# members (a gap in seqs is harmless: unfollows leave gaps too).
_FOLLOW = f"""
UNWIND $rows AS row
MERGE (a:User {{id: row[0]}}) ON CREATE SET {_new_user("a")}
MERGE (b:User {{id: row[1]}}) ON CREATE SET {_new_user("b")}
WITH a, b, row[2] AS at
OPTIONAL MATCH (a)-[old:FOLLOWS]->(b)
WITH a, b, at, old WHERE old IS NULL
WITH a, b, at ORDER BY at
WITH b, collect(a) AS fans, collect(at) AS ats
SET b.counted_from = coalesce(
    b.counted_from, toInteger((b.follower_seq + b.block_size - 1) / b.block_size))
WITH b, fans, ats, CASE WHEN b.follower_seq > b.counted_from * b.block_size
    THEN b.follower_seq ELSE b.counted_from * b.block_size END AS base
SET b.follower_seq = base + size(fans), b.followers = b.followers + size(fans)
WITH b, fans, ats, base
UNWIND range(0, size(fans) - 1) AS i
WITH b, fans[i] AS a, ats[i] AS at, base + i + 1 AS seq
WITH b, toInteger((seq - 1) / b.block_size) AS n, collect([a, at, seq]) AS joining
MERGE (blk:FollowerBlock {{key: toString(b.id) + ':' + toString(n)}})
    ON CREATE SET blk.owner = b.id, blk.n = n, blk.members = 0
SET blk.members = blk.members + size(joining)
WITH b, blk, joining
UNWIND joining AS j
WITH b, blk, j[0] AS a, j[1] AS at, j[2] AS seq
CREATE (a)-[:FOLLOWS {{seq: seq, at: at}}]->(b), (a)-[:MEMBER_OF {{seq: seq}}]->(blk)
SET a.following = a.following + 1
RETURN count(*) AS created
"""

# Both users are found by id before the edge is matched between them: a pattern with one
# end fixed by a constant is planned by FalkorDB as a walk of that end's edges. (In the
# block keys, toInteger keeps "n" an integer's text should an engine divide into floats.)
# The block that loses its last member goes in the same query (an uncounted block's
# members stay null: it is never deleted). No edge between the pair: no row, nothing done.
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
SET a.following = a.following - 1, b.followers = b.followers - 1, b.unfollows = b.unfollows + 1,
    blk.members = blk.members - 1
WITH blk, count(*) AS removed
OPTIONAL MATCH (blk)<-[left:MEMBER_OF]-()
WHERE blk.members <= 0
WITH blk, removed, count(left) AS still
WITH removed, CASE WHEN blk.members <= 0 AND still = 0 THEN blk END AS emptied
DELETE emptied
RETURN removed
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

# The user's node and its counted blocks (found by the index on owner; uncounted blocks have
# no owner). Every block that exists is listed, whatever its count says: its last unfollow
# deletes an emptied block, and one whose count drifted (a follow by a Murmur from before
# counted blocks, during a rolling upgrade) must still be read, not skipped.
_LIVE_BLOCKS = """
MATCH (u:User {id: $user})
OPTIONAL MATCH (blk:FollowerBlock {owner: $user})
RETURN u.follower_seq AS last, u.block_size AS block_size, u.followers AS followers,
    u.counted_from AS counted_from, collect([blk.n, blk.members]) AS blocks
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


def _seq_span(lo: int, hi: int, block_size: int) -> str:
    """Seqs lo+1..hi, in whichever blocks they fall in: uncounted blocks only."""
    return f"{lo}:{hi}:{block_size}"


def _block_span(lo: int, hi: int, blocks: Sequence[int]) -> str:
    """Seqs lo+1..hi of the blocks named (descending), written as runs: "lo:hi/9-7,4"."""
    runs: list[list[int]] = []
    for n in blocks:
        if runs and runs[-1][-1] == n + 1:
            runs[-1][-1] = n
        else:
            runs.append([n, n])
    return f"{lo}:{hi}/" + ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _parse_blocks(text: str) -> list[int] | None:
    blocks: list[int] = []
    for run in text.split(","):
        ends = [parse_id(end) for end in run.split("-")]
        match ends:
            case [int(a)]:
                top, bottom = a, a
            case [int(a), int(b)] if a > b:
                top, bottom = a, b
            case _:
                return None
        if (blocks and top >= blocks[-1]) or len(blocks) + top - bottom + 1 > SPAN_MAX_BLOCKS:
            return None  # not descending, or more blocks than a span names
        blocks += range(top, bottom - 1, -1)
    return blocks


def _parse_span(span: str) -> tuple[int, int, list[int] | None, int]:
    """(lo, hi, the blocks named, 0) for a span of counted blocks; (lo, hi, None, block_size)
    for a span of seqs (uncounted blocks, and every span made before blocks were counted)."""
    seqs, slash, named = span.partition("/")
    parts = [parse_id(part) for part in seqs.split(":")]
    match parts:
        case [int(lo), int(hi)] if slash and lo < hi:
            blocks = _parse_blocks(named)
            if blocks is not None:
                return lo, hi, blocks, 0
        case [int(lo), int(hi), int(block_size)] if not slash and lo < hi and block_size > 0:
            return lo, hi, None, block_size
    raise PermanentStoreError(f"not a follower span of this graph: {span!r}")


def cut_spans(blocks: Sequence[tuple[int, int]], *, size: int, block_size: int, last: int) -> list[str]:
    """Spans of about `size` followers over counted blocks [(n, members)], newest first.

    Consecutive blocks go into one span while their members add up to at most size (and at
    most SPAN_MAX_BLOCKS blocks); a block with more members than size is cut alone, into
    ceil(members / size) equal seq ranges of the part it has filled (its top piece open to
    the block's end): size members each in a full block, size on average in a thinned one
    (its members are counted, not placed). Each span names its blocks, so none reads a
    block it does not hold.
    """
    spans: list[str] = []
    group: list[int] = []
    total = 0

    def flush() -> None:
        nonlocal group, total
        if group:
            spans.append(_block_span(group[-1] * block_size, (group[0] + 1) * block_size, group))
        group, total = [], 0

    for n, members in sorted(blocks, reverse=True):
        base, end = n * block_size, (n + 1) * block_size
        if members > size:
            flush()
            pieces = -(-members // size)
            top = max(base + 1, min(end, last))  # the block's seqs so far: base+1..top
            bounds = [base + (top - base) * i // pieces for i in range(pieces + 1)]
            bounds[-1] = end
            pairs = zip(bounds[-2::-1], bounds[:0:-1], strict=True)
            spans += [_block_span(lo, hi, [n]) for lo, hi in pairs if lo < hi]
            continue
        if total + members > size or len(group) == SPAN_MAX_BLOCKS:
            flush()
        group.append(n)
        total += members
    flush()
    return spans


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
        for index in ("(u:User) ON (u.id)", "(b:FollowerBlock) ON (b.key)", "(b:FollowerBlock) ON (b.owner)"):
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
        return bool(records) and int(records[0]["removed"]) > 0

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
        """Spans over the live counted blocks (one query: the user and its live blocks), then,
        for a user made before blocks were counted, its old blocks cut by seq as before."""
        key = parse_id(user_id)
        if key is None:
            return []
        records = await self._run(_LIVE_BLOCKS, {"user": key})
        if not records or records[0]["followers"] <= 0:
            return []
        r = records[0]
        last, block_size, counted_from = r["last"], r["block_size"], r["counted_from"]
        size = max(1, size)
        # a count that drifted below the block's real members still gives it a place
        live = [(n, max(members or 0, 1)) for n, members in r["blocks"] if n is not None]
        spans = cut_spans(live, size=size, block_size=block_size, last=last)
        # uncounted: every block of a user no follow has touched since, else those below counted_from
        uncounted = last if counted_from is None else min(last, counted_from * block_size)
        # seq ranges aligned on multiples of size, newest first; the newest ends at its top
        starts = range((uncounted - 1) // size * size, -1, -size) if uncounted > 0 else range(0)
        return spans + [_seq_span(lo, min(lo + size, uncounted), block_size) for lo in starts]

    async def followers_in(self, *, user_id: UserId, span: str) -> list[UserId]:
        lo, hi, named, block_size = _parse_span(span)
        key = parse_id(user_id)
        if key is None:
            return []
        # the blocks named, or else only the blocks that seqs lo+1..hi fall in
        blocks = (
            named
            if named is not None
            else range(_block_of(hi, block_size), _block_of(lo + 1, block_size) - 1, -1)
        )
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
