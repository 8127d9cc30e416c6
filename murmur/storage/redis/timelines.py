"""Hot home timelines: recently read timelines as capped Redis sorted sets in front of a
durable TimelineStore (DynamoDB in the cloud).

Layout. One sorted set per owner, `<prefix>hot-timeline:<owner>`: member `<post id>:<author
id>` (the author lets reads answer whole entries), score = minus the post id (a 53-bit
integer, exact as a double), so re-adding a post changes nothing and the newest entry
comes first. Each set also holds one *marker*, below every post: "!" when the set is
complete (hot), "?<token>" while a reader fills it; its score encodes the Redis time the
fill began (see _marker_score). So a set runs marker, newest, ..., oldest: Redis keeps a
small set as one flat list in score order, and both what a push reads (the marker) and
where it adds (just after it) are at the front; ordered the other way, every push walked
the whole list twice (half of its cost in Redis). A set holds the newest `cap` entries of
its durable timeline, at ranks 1..cap, and then maybe a few older ones: a push trims a set
back to the cap (ranks cap+1..-1) only now and then (one set in `trim_sets_every`: in a
large set a trim costs as much as the add). Reads stop at rank cap, so the older ones are
never seen. (Sets were once ordered oldest first under the name `timeline:`; the new name
keeps the layouts apart. Writers of the old layout running beside this one, in a rolling
deploy, do not reach its sets: delete `hot-timeline:*` once they are gone.)

Writes go to the durable store first, then to Redis, and only to sets that exist: a
timeline nobody reads never gets a partial set. The durable store owns the floor and the
shortfall; a set only mirrors the durable window, the newest cap entries. Additions
(push, backfill, refill) are unions, and the newest cap of a union is the newest cap of the
newest caps, whatever the durable store trims meanwhile: so they are applied to the sets
too. Removals (delete, unfollow) and rebuilds drop the whole set rather than edit it:
removal and trimming do not commute (a push that trims an old entry and a removal, applied
in the other order, keep a different oldest entry), while additions alone do, so sets only
ever see additions and stay equal to the durable window. A refill that finds the floor
moved drops the set too: the durable store may or may not have kept its entries. The
next read rebuilds a dropped set.

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

Pushing to many sets. The per-owner work runs in Redis: one script call takes up to
`keys_per_call` timeline keys (KEYS) and, for each, checks the marker and adds the entry,
so the client sends a key per owner rather than a command, packed in one pass (redis-py's
own packer cost more than all the rest). A call blocks Redis while it runs (a few µs a
key), so a fan-out chunk of thousands of owners goes as calls of at most 1,000 keys, two
in flight on two pooled connections: Redis runs one while the client packs the next.
One call with the keys of many owners needs a non-cluster Redis: ElastiCache in cluster
mode would need every key of a call in one hash slot (keys tagged `{...}` by a bucket of
owners, and calls cut along those buckets).

Scripts, not Functions: a script run by EVALSHA is named by the hash of its text, so two
releases running side by side during a deploy each run their own, and one that Redis lost
(a restart, a failover to a replica) is loaded again on NOSCRIPT (redis-py's registered
scripts do it themselves; the push does it by hand, as it sends packed commands). Redis
Functions (FUNCTION LOAD / FCALL, Redis >= 7; the tests run 7.0) survive restarts and
replicate, but a library is named, not hashed: two releases would replace each other's
code unless each named its own and removed the old, redis-py 8.1 offers FCALL only as a
raw command (no reload when a function is missing), and with a thousand keys a call, the
script lookup they would save is noise.

Redis is only a cache: reads it cannot answer go to the durable store, and writes it
cannot take are owed as deletes (see connection.py), as are the sets of a durable write
that failed (it may have partly happened). Sizes, shortfalls and the trim rate always come
from the durable store.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Iterator, Sequence
from random import randrange
from typing import Any, TypeVar

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError

from murmur.domain import PostId, TimelineEntry, UserId
from murmur.storage.base import Shortfall, TimelineStore
from murmur.storage.counting import counted
from murmur.storage.redis.connection import NO_ANSWER, RedisConnection

T = TypeVar("T")

# Counted apart from "timelines": those counts stay the durable store's operations, and
# these show what the hot layer took in front of it.
STORE = "hot_timelines"
HOT_TTL_SECONDS = 24 * 3600  # since the last read
FILL_TTL_MS = 30_000  # a reader that died mid-fill blocks fills of that timeline this long
KEYS_PER_CALL = 1000  # timelines per push script call: bounds how long one call blocks Redis
CALLS_IN_FLIGHT = 2  # Redis runs one call while the client packs the next (and the replies travel)
TRIM_SETS_EVERY = 8  # a push trims about one set in this many; sets hold about that many past the cap
MAX_SCORE = 1 << 53  # ids above this are not exact as a Redis score
# Not "timeline:": sets under that name were ordered oldest first (see the module docstring).
KEY_NAME = "hot-timeline:"


def _marker_score(began_us: int) -> int:
    """The score of a marker whose fill began at `began_us` (Redis time, µs): below every
    post's (-2**53 < -post id), and exact as a double (even integers below 2**54 are, and
    the time fits until the year 2112)."""
    return -(MAX_SCORE + 2 * began_us)


# In the scripts, '(-9007199254740992' is (-2**53: a bound every post is above and every
# marker below.

# KEYS[1] a timeline; ARGV: minus the cursor ("" from the top), limit, TTL seconds, cap.
# Nil unless hot; reading refreshes the TTL. The window is ranks 1..cap (the marker is rank
# 0); entries past it, kept until a trim, are not part of the timeline.
_READ = """
if redis.call('ZRANGE', KEYS[1], 0, 0)[1] ~= '!' then return false end
redis.call('EXPIRE', KEYS[1], ARGV[3])
local skip = 0
if ARGV[1] ~= '' then skip = redis.call('ZCOUNT', KEYS[1], '(-9007199254740992', ARGV[1]) end
local last = math.min(skip + tonumber(ARGV[2]), tonumber(ARGV[4]))
if last <= skip then return {} end
return redis.call('ZRANGE', KEYS[1], skip + 1, last)
"""
# Shared: add (score, member) pairs from ARGV[first] on (unpack takes at most ~8,000 values);
# trim keeps the marker and the newest cap.
_ADD = """
local function add(key, first)
  for i = first, #ARGV, 1000 do
    redis.call('ZADD', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
local function trim(key, cap)
  redis.call('ZREMRANGEBYRANK', key, cap + 1, -1)
end
"""
# KEYS: timelines; ARGV: cap, trim spacing, trim offset, the marker score of the Redis time
# after the durable write, pairs... For each set whose marker says its fill began by then
# (ZCOUNT finds the marker first and answers with no score to format): add, and trim the
# sets whose position (with the offset) falls on the spacing. How many sets took the pairs.
_PUSH = (
    _ADD
    + """
local cap, every, offset, since = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local single = #ARGV == 6
local landed = 0
for i, key in ipairs(KEYS) do
  if redis.call('ZCOUNT', key, since, '(-9007199254740992') == 1 then
    if single then redis.call('ZADD', key, ARGV[5], ARGV[6]) else add(key, 5) end
    if (i + offset) % every == 0 then trim(key, cap) end
    landed = landed + 1
  end
end
return landed
"""
)
_PUSH_SHA = hashlib.sha1(_PUSH.encode()).hexdigest()  # how EVALSHA names it
# KEYS[1] a timeline; ARGV: token, TTL ms. 1 if this reader fills it. The marker's score is
# _marker_score of Redis's clock, formatted as an integer (Lua's own would round it).
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = redis.call('TIME')
local score = -(9007199254740992 + 2 * (now[1] * 1000000 + now[2]))
redis.call('ZADD', KEYS[1], string.format('%.0f', score), '?' .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS[1] a timeline; ARGV: token, TTL seconds, cap, pairs... 1 if filled.
_FINISH = (
    _ADD
    + """
local began = redis.call('ZSCORE', KEYS[1], '?' .. ARGV[1])
if not began then return 0 end
redis.call('ZREM', KEYS[1], '?' .. ARGV[1])
redis.call('ZADD', KEYS[1], began, '!')
if #ARGV >= 4 then add(KEYS[1], 4) end
trim(KEYS[1], tonumber(ARGV[3]))
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
        pairs += (-score, newest[score])
    return pairs


def _packed(words: Sequence[str]) -> bytes:
    """A command in Redis's wire protocol (RESP), packed in one pass. redis-py's packer copies
    its buffer once per argument (up to 6 KB each): for a call of a thousand keys, that was
    most of a push's client time."""
    text = "".join([f"${len(word)}\r\n{word}\r\n" for word in words])
    if text.isascii():  # then the lengths above, in characters, are the lengths in bytes
        return f"*{len(words)}\r\n{text}".encode()
    encoded = [word.encode() for word in words]
    return b"*%d\r\n" % len(words) + b"".join([b"$%d\r\n%b\r\n" % (len(word), word) for word in encoded])


async def _send_and_read(connection: AbstractConnection, command: bytes) -> Any:
    await connection.send_packed_command(command)
    return await connection.read_response()


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
        keys_per_call: int = KEYS_PER_CALL,
        calls_in_flight: int = CALLS_IN_FLIGHT,
        trim_sets_every: int = TRIM_SETS_EVERY,
    ) -> None:
        if min(keys_per_call, calls_in_flight, trim_sets_every) < 1:
            raise ValueError("keys_per_call, calls_in_flight and trim_sets_every must be at least 1")
        self._inner = inner
        self._conn = conn
        self._ttl = ttl_seconds
        self._keys_per_call = keys_per_call
        self._calls_in_flight = calls_in_flight
        self._trim_sets_every = trim_sets_every
        self.cap = inner.cap
        self.trim_every = inner.trim_every
        self._timeline_prefix = conn.key(KEY_NAME)
        client = conn.client
        self._read = client.register_script(_READ)
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)

    def _key(self, owner: str) -> str:
        return self._timeline_prefix + owner

    # --- writes: the durable store first, then the sets that exist -----------------------

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        owners = list(dict.fromkeys(owners))
        await self._durably(owners, self._inner.add_to_timelines(owners=owners, entry=entry))
        await self._push(owners, [entry], operation="add_to_timelines", trim_every=self._trim_sets_every)

    async def backfill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], complete_above: PostId | None
    ) -> None:
        await self._durably(
            [owner], self._inner.backfill(owner=owner, entries=entries, complete_above=complete_above)
        )
        if entries:
            await self._push([owner], entries, operation="backfill", trim_every=1)

    async def refill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], below: PostId, wanted: int
    ) -> bool:
        refilled = await self._durably(
            [owner], self._inner.refill(owner=owner, entries=entries, below=below, wanted=wanted)
        )
        if not refilled:  # the durable store may or may not have kept the entries
            await self._drop([owner], operation="refill")
        elif entries:
            await self._push([owner], entries, operation="refill", trim_every=1)
        return refilled

    async def rebuild(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        await self._durably([owner], self._inner.rebuild(owner=owner, entries=entries))
        await self._drop([owner], operation="rebuild")

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        held = await self._durably(owners, self._inner.remove_post(owners=owners, post_id=post_id))
        await self._drop(held, operation="remove_post")  # a set holds nothing its durable timeline lacks
        return held

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        removed = await self._durably([owner], self._inner.remove_author(owner=owner, author_id=author_id))
        if removed:
            await self._drop([owner], operation="remove_author")
        return removed

    async def _durably(self, owners: Sequence[UserId], write: Awaitable[T]) -> T:
        """Run the durable write; if it fails it may have partly happened (and may never be
        retried), so the sets it touched are owed a drop."""
        try:
            return await write
        except BaseException:
            self._conn.owe_deletes(self._key(owner) for owner in owners)
            raise

    async def _push(
        self, owners: Sequence[UserId], entries: Sequence[TimelineEntry], *, operation: str, trim_every: int
    ) -> None:
        keys = [self._key(owner) for owner in owners]
        pairs = _pairs(entries, self.cap)
        if pairs is None:  # not representable here: let the durable store answer for these owners
            await self._drop(owners, operation=operation)
        elif (
            keys
            and await self._conn.call(
                lambda: self._push_to(keys, pairs, trim_every), store=STORE, operation=operation
            )
            is NO_ANSWER
        ):
            self._conn.owe_deletes(keys)

    async def _push_to(self, keys: Sequence[str], pairs: list[str | int], trim_every: int) -> int:
        """Add the pairs to the sets of these keys that exist; how many took them."""
        seconds, micros = await self._conn.client.time()  # after the durable write: see the module docstring
        # a random offset: each set is trimmed by about one push in trim_every, whatever its position
        offset = randrange(trim_every)
        since = _marker_score(seconds * 1_000_000 + micros)
        args = [str(arg) for arg in (self.cap, trim_every, offset, since, *pairs)]
        size = self._keys_per_call
        # packed as a lane takes it, so the client packs one call while Redis runs another
        calls = (
            _packed(["EVALSHA", _PUSH_SHA, str(len(chunk)), *chunk, *args])
            for chunk in (keys[start : start + size] for start in range(0, len(keys), size))
        )
        lanes = min(self._calls_in_flight, -(-len(keys) // size))
        landed = [0]
        if lanes == 1:
            await self._push_lane(calls, landed)
            return landed[0]
        try:
            async with asyncio.TaskGroup() as group:  # a failed call cancels the other lanes
                for _ in range(lanes):
                    group.create_task(self._push_lane(calls, landed))
        except ExceptionGroup as failures:
            first = failures.exceptions[0]  # the caller expects the Redis error itself, not a group
            raise first from first.__cause__
        return landed[0]

    async def _push_lane(self, calls: Iterator[bytes], landed: list[int]) -> None:
        for command in calls:  # shared with the other lanes: each takes the next call when its own answers
            try:
                landed[0] += int(await self._send(command))
            except NoScriptError:  # Redis lost its scripts (a restart, a failover): load it again
                await self._conn.client.script_load(_PUSH)
                landed[0] += int(await self._send(command))

    async def _send(self, command: bytes) -> Any:
        """Send a packed command on a pooled connection and read its reply, retried as redis-py
        retries its own commands. A connection that fails or is cancelled mid-reply disconnects
        itself, so it never hands a stale reply to its next user."""
        pool = self._conn.client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]  # unannotated in redis-py
        try:
            return await connection.retry.call_with_retry(
                lambda: _send_and_read(connection, command), lambda _error: connection.disconnect()
            )
        finally:
            await pool.release(connection)

    async def _drop(self, owners: Sequence[UserId], *, operation: str) -> None:
        await self._conn.forget([self._key(owner) for owner in owners], store=STORE, operation=operation)

    # --- reads: the hot set, else the durable store (filling the set) ---------------------

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        bound = None if before is None else _score(before)
        if limit <= 0 or _score(owner) is None or (before is not None and bound is None):
            # the durable store's answer to odd input (an empty page, or its error for a bad cursor)
            return await self._inner.timeline(owner=owner, before=before, limit=limit)
        cursor = "" if bound is None else str(-bound)
        key = self._key(owner)
        members = await self._conn.call(
            lambda: self._read(keys=[key], args=[cursor, limit, self._ttl, self.cap]),
            store=STORE,
            operation="timeline",
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

    # --- the durable store's own: floors, shortfalls, sizes --------------------------------

    async def shortfall(self, *, owners: Sequence[UserId]) -> dict[UserId, Shortfall]:
        return await self._inner.shortfall(owners=owners)

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]:
        return await self._inner.timeline_sizes(owners=owners)
