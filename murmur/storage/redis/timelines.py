"""Hot home timelines: recently read timelines as capped Redis sorted sets in front of a
durable TimelineStore (DynamoDB in the cloud).

Layout. One sorted set per owner, `<prefix>timeline:<owner>`: member `<post id>:<author id>`
(the author lets reads answer whole entries), score = the post id (a 53-bit integer, exact
as a double), so the set is ordered by post id and re-adding a post changes nothing. Each
set also holds one *marker* with a negative score, below every post: "!" when the set is
complete (hot), "?<token>" while a reader fills it. Its score is minus the Redis time
(µs) the fill began. Every write to a set keeps the marker at rank 0 and trims ranks
1..-(cap+1), so a set holds the marker and the newest `cap` entries.

Writes go to the durable store first, then to Redis, and only to sets that exist: a
timeline nobody reads never gets a partial set. Removals (delete, unfollow, replace) drop
the whole set rather than edit it: removal and trimming do not commute (a push that trims
an old entry and a removal, applied in the other order, keep a different oldest entry),
while pushes alone do, so sets only ever see pushes and stay equal to the durable store.
The next read rebuilds a dropped set.

A read of a set that is not hot fills it, racing with writes:

1. begin: create the set holding only "?<token>" (unless the key exists: then someone
   else is filling it, or it is hot, and this read just asks the durable store);
2. read the whole timeline from the durable store;
3. finish: if "?<token>" is still there, add the entries, swap in "!", set the TTL.

A push whose durable write ended before step 1 is in the step-2 read; one that reaches
Redis after step 1 lands in the set being filled (it exists). A removal drops the set, so
step 3 finds no token and fills nothing. A push only lands in a set whose fill began
before the push's durable write ended (the writer asks Redis's clock after that write):
a later fill already read it, and a late push must not bring back a post that a removal
took out of the durable store in between. (This needs the durable store's reads to see
its completed writes: DynamoDB reads with ConsistentRead.)

Redis is only a cache: reads it cannot answer go to the durable store, and writes it
cannot take are owed as deletes (see connection.py), as are the sets of a durable write
that failed (it may have partly happened). Sizes always come from the durable store (it
keeps them, and they are read after removals, which drop the sets anyway).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from murmur.domain import PostId, TimelineEntry, UserId
from murmur.storage.base import TimelineStore
from murmur.storage.counting import counted
from murmur.storage.redis.connection import NO_ANSWER, RedisConnection

T = TypeVar("T")

# Counted apart from "timelines": those counts stay the durable store's operations, and
# these show what the hot layer took in front of it.
STORE = "hot_timelines"
HOT_TTL_SECONDS = 24 * 3600  # since the last read
FILL_TTL_MS = 30_000  # a reader that died mid-fill blocks fills of that timeline this long
PIPELINE_SIZE = 1000  # owners per round trip when a push reaches many timelines
MAX_SCORE = 1 << 53  # ids above this are not exact as a Redis score

# KEYS[1] a timeline; ARGV: upper bound ("+inf" or "(<post id>"), limit, TTL seconds.
# Nil unless hot; reading refreshes the TTL.
_READ = """
if not redis.call('ZSCORE', KEYS[1], '!') then return false end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('ZRANGE', KEYS[1], ARGV[1], '(0', 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[2])
"""
# Shared by push and finish: add (score, member) pairs from ARGV[first] on, keep the newest cap.
_ADD_AND_TRIM = """
local function add_and_trim(key, cap, first)
  for i = first, #ARGV, 1000 do
    redis.call('ZADD', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  redis.call('ZREMRANGEBYRANK', key, 1, -(tonumber(cap) + 1))
end
"""
# KEYS[1] a timeline; ARGV: cap, Redis time (µs) after the durable write, pairs...
_PUSH = (
    _ADD_AND_TRIM
    + """
local marker = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #marker == 0 or -tonumber(marker[2]) > tonumber(ARGV[2]) then return 0 end
add_and_trim(KEYS[1], ARGV[1], 3)
return 1
"""
)
# KEYS[1] a timeline; ARGV: token, TTL ms. 1 if this reader fills it.
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[1], '-' .. now[1] .. string.sub('00000' .. now[2], -6), '?' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS[1] a timeline; ARGV: token, TTL seconds, cap, pairs... 1 if filled.
_FINISH = (
    _ADD_AND_TRIM
    + """
local began = redis.call('ZSCORE', KEYS[1], '?' .. ARGV[1])
if not began then return 0 end
redis.call('ZREM', KEYS[1], '?' .. ARGV[1])
redis.call('ZADD', KEYS[1], began, '!')
if #ARGV >= 4 then add_and_trim(KEYS[1], ARGV[3], 4) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
)


def _score(any_id: str) -> int | None:
    """The id as a sorted-set score, or None if it is not one exactly."""
    if not (any_id.isascii() and any_id.isdigit()):
        return None
    value = int(any_id)
    return value if 0 < value < MAX_SCORE else None


def _pairs(entries: Sequence[TimelineEntry], cap: int) -> list[str | int] | None:
    """ZADD arguments for the newest cap entries, without repeats; None if an id cannot be a score."""
    newest: dict[int, str] = {}
    for entry in entries:
        score = _score(entry.post_id)
        if score is None:
            return None
        newest[score] = f"{entry.post_id}:{entry.author_id}"
    pairs: list[str | int] = []
    for score in sorted(newest, reverse=True)[:cap]:
        pairs += (score, newest[score])
    return pairs


def _entry(member: bytes) -> TimelineEntry:
    post_id, _, author_id = member.decode().partition(":")
    return TimelineEntry(post_id=PostId(post_id), author_id=UserId(author_id))


def _page(entries: list[TimelineEntry], before: PostId | None, limit: int) -> list[TimelineEntry]:
    if before is not None:
        bound = int(before)
        entries = [entry for entry in entries if int(entry.post_id) < bound]
    return entries[:limit]


@counted(STORE)
class RedisHotTimelines:
    def __init__(
        self,
        *,
        inner: TimelineStore,
        conn: RedisConnection,
        ttl_seconds: int = HOT_TTL_SECONDS,
        pipeline_size: int = PIPELINE_SIZE,
    ) -> None:
        self._inner = inner
        self._conn = conn
        self._ttl = ttl_seconds
        self._pipeline_size = pipeline_size
        self.cap = inner.cap
        client = conn.client
        self._read = client.register_script(_READ)
        self._push_script = client.register_script(_PUSH)
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)

    def _key(self, owner: str) -> str:
        return self._conn.key(f"timeline:{owner}")

    # --- writes: the durable store first, then the sets that exist -----------------------

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        owners = list(dict.fromkeys(owners))
        await self._durably(owners, self._inner.add_to_timelines(owners=owners, entry=entry))
        await self._push(owners, [entry], operation="add_to_timelines")

    async def add_entries(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        await self._durably([owner], self._inner.add_entries(owner=owner, entries=entries))
        if entries:
            await self._push([owner], entries, operation="add_entries")

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        held = await self._durably(owners, self._inner.remove_post(owners=owners, post_id=post_id))
        await self._drop(held, operation="remove_post")  # a set holds nothing its durable timeline lacks
        return held

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        removed = await self._durably([owner], self._inner.remove_author(owner=owner, author_id=author_id))
        if removed:
            await self._drop([owner], operation="remove_author")
        return removed

    async def replace(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        await self._durably([owner], self._inner.replace(owner=owner, entries=entries))
        await self._drop([owner], operation="replace")

    async def _durably(self, owners: Sequence[UserId], write: Awaitable[T]) -> T:
        """Run the durable write; if it fails it may have partly happened (and may never be
        retried), so the sets it touched are owed a drop."""
        try:
            return await write
        except BaseException:
            self._conn.owe_deletes(self._key(owner) for owner in owners)
            raise

    async def _push(
        self, owners: Sequence[UserId], entries: Sequence[TimelineEntry], *, operation: str
    ) -> None:
        keys = [self._key(owner) for owner in owners]
        pairs = _pairs(entries, self.cap)
        if pairs is None:  # not representable here: let the durable store answer for these owners
            await self._drop(owners, operation=operation)
        elif (
            keys
            and await self._conn.call(lambda: self._push_to(keys, pairs), store=STORE, operation=operation)
            is NO_ANSWER
        ):
            self._conn.owe_deletes(keys)

    async def _push_to(self, keys: Sequence[str], pairs: list[str | int]) -> None:
        client = self._conn.client
        seconds, micros = await client.time()  # after the durable write: see the module docstring
        args = (self.cap, seconds * 1_000_000 + micros, *pairs)
        for start in range(0, len(keys), self._pipeline_size):
            pipe = client.pipeline(transaction=False)
            # loaded if Redis lost it (checked once per round trip); redis-py's AsyncScript adds itself alike
            pipe.scripts.add(self._push_script)  # type: ignore[arg-type]
            for key in keys[start : start + self._pipeline_size]:
                pipe.evalsha(self._push_script.sha, 1, key, *args)
            await pipe.execute()

    async def _drop(self, owners: Sequence[UserId], *, operation: str) -> None:
        await self._conn.forget([self._key(owner) for owner in owners], store=STORE, operation=operation)

    # --- reads: the hot set, else the durable store (filling the set) ---------------------

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        bound = None if before is None else _score(before)
        if limit <= 0 or _score(owner) is None or (before is not None and bound is None):
            # the durable store's answer to odd input (an empty page, or its error for a bad cursor)
            return await self._inner.timeline(owner=owner, before=before, limit=limit)
        upper = "+inf" if bound is None else f"({bound}"
        key = self._key(owner)
        members = await self._conn.call(
            lambda: self._read(keys=[key], args=[upper, limit, self._ttl]), store=STORE, operation="timeline"
        )
        if members is NO_ANSWER:
            return await self._inner.timeline(owner=owner, before=before, limit=limit)
        if members is not None:
            return [_entry(member) for member in members]
        return await self._fill(owner, key, before, limit)

    async def _fill(self, owner: UserId, key: str, before: PostId | None, limit: int) -> list[TimelineEntry]:
        token = secrets.token_hex(8)
        began = await self._conn.call(
            lambda: self._begin(keys=[key], args=[token, FILL_TTL_MS]), store=STORE, operation="fill"
        )
        if began != 1:  # someone else is filling it, or Redis is away
            return await self._inner.timeline(owner=owner, before=before, limit=limit)
        entries = await self._inner.timeline(owner=owner, before=None, limit=self.cap)
        pairs = _pairs(entries, self.cap)
        if pairs is not None:  # else the fill lapses with its TTL
            await self._conn.call(
                lambda: self._finish(keys=[key], args=[token, self._ttl, self.cap, *pairs]),
                store=STORE,
                operation="fill",
            )
        return _page(entries, before, limit)

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]:
        return await self._inner.timeline_sizes(owners=owners)
