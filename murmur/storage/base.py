"""The storage capabilities the core needs, one small Protocol each.

They are shaped to fit every backend Murmur runs on — SQLite embedded; MongoDB,
Neptune, DynamoDB, Redis and SQS in the cloud — so nothing here assumes SQL, a
transaction spanning two stores, or a follower list small enough to load whole:
follower lists come in pages behind opaque cursors.

Every method is keyword-only. Ids cross this boundary as the domain's strings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from murmur.domain import (
    Credentials,
    Delivery,
    Page,
    Post,
    PostId,
    ProfileUpdate,
    TimelineEntry,
    User,
    UserId,
)


@dataclass(frozen=True, slots=True)
class FollowCounts:
    followers: int
    following: int
    # How many times anyone has stopped following this user; it never goes down. Fan-out reads
    # it before and after writing a chunk: unchanged means no one in the chunk can have
    # unfollowed meanwhile, so the per-follower re-check can be skipped.
    unfollows: int = 0


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A queue message saved in the same write as the change it announces."""

    id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send."""

    body: bytes
    # A send with a key first sent less than 5 minutes ago is dropped, whatever became of that
    # message (waiting, in flight, acknowledged, dead); after 5 minutes the key is accepted again,
    # even while the first message still waits (SQS FIFO's rule; see Queue). For work that is the
    # same however often it is sent: a chunk of a planned fan-out, a relayed outbox row.
    dedup_key: str | None = None


@dataclass(frozen=True, slots=True)
class QueueMessage:
    receipt: str  # hands the message back to ack, retry or dead-letter it
    body: bytes
    receive_count: int  # 1 on first delivery
    sent_at: float = 0.0  # unix seconds when it was first enqueued (lag metrics, autoscaling)


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A timeline that a removal left short: `missing` posts, all older than `below`, belong in it."""

    missing: int
    below: PostId


@dataclass(frozen=True, slots=True)
class QueueDepth:
    visible: int  # waiting to be received
    in_flight: int  # received, not yet acknowledged
    dead: int  # in the dead-letter queue


@runtime_checkable
class Closeable(Protocol):
    async def close(self) -> None: ...


class UserStore(Protocol):
    async def create_user(self, *, user: User, password_hash: str) -> None:
        """Raise UsernameTaken if the username is in use, compared case-insensitively, and IdTaken
        if the id is (the caller mints another)."""

    async def import_users(self, *, users: Sequence[tuple[User, str]]) -> None:
        """Bulk load (user, password hash) pairs in one round trip (data generators): no
        checks beyond the store's unique keys, which a repeated user breaks."""

    async def users_by_id(self, *, ids: Sequence[UserId]) -> dict[UserId, User]:
        """The users that exist among ids; unknown ids are left out."""

    async def credentials(self, *, username: str) -> Credentials | None:
        """Look up by username, case-insensitively."""

    async def user_by_username(self, *, username: str) -> User | None: ...

    async def update_profile(self, *, user_id: UserId, update: ProfileUpdate) -> User:
        """Set the fields that are not None; raise NotFound for an unknown user."""

    async def count_users(self) -> int: ...

    async def token_version(self, *, user_id: UserId) -> int | None:
        """The version a token of this user must carry (0 until tokens are first revoked);
        None for an unknown user."""

    async def revoke_tokens(self, *, user_id: UserId) -> int:
        """Bump the user's token version, so every token issued before stops working; the new
        version. NotFound for an unknown user."""

    async def record_activity(self, *, user_id: UserId, at: datetime) -> datetime | None:
        """Note that the user was active at `at` (never moving it back); when they were last
        active before, or None for an unknown user. A user never recorded counts as active
        when they registered."""

    async def active_among(self, *, user_ids: Sequence[UserId], since: datetime) -> set[UserId]:
        """Which of these users have been active since `since` (push skips the others)."""


class PostStore(Protocol):
    """Posts, and the outbox of fan-out events written atomically with them."""

    async def create_post(self, *, post: Post, outbox: OutboxMessage) -> None:
        """Save the post and its outbox message in one atomic write; IdTaken if the id is in use.

        The caller picks the message id, so it can mark it published after sending it.
        """

    async def delete_post(self, *, post_id: PostId, outbox: OutboxMessage) -> Post | None:
        """Delete the post and save the outbox message atomically; None (and no message) if
        it was not there."""

    async def save_outbox(self, *, message: OutboxMessage, held_seconds: float = 0.0) -> None:
        """Save an outbox message on its own (a follow change, saved before the graph changes),
        held from relays for `held_seconds` as if a relay had claimed it: the saver publishes
        it once the change it announces is made, and relays only after the hold."""

    async def import_posts(self, *, posts: Sequence[Post]) -> None:
        """Bulk load posts whose fan-out is already done, in one round trip, with no outbox
        messages (data generators)."""

    async def posts_by_id(self, *, ids: Sequence[PostId]) -> dict[PostId, Post]: ...

    async def recent_posts(
        self,
        *,
        author_ids: Sequence[UserId],
        before: PostId | None,
        limit: int,
        delivery: Delivery | None = None,
    ) -> list[Post]:
        """Posts by any of the authors, newest first, older than `before` when given,
        restricted to one delivery mode when given."""

    async def pulled_authors(self, *, author_ids: Sequence[UserId]) -> set[UserId]:
        """Which of these authors have written a PULLED post (hybrid reads merge only theirs)."""

    async def count_posts(self) -> int: ...

    async def claim_outbox(
        self, *, older_than_seconds: float, limit: int, lease_seconds: float
    ) -> list[OutboxMessage]:
        """Outbox messages saved at least `older_than_seconds` ago, not yet published and not
        held by another relay, oldest first; the caller now holds them for `lease_seconds`, so
        relays in many processes never publish one message at the same time."""

    async def outbox_published(self, *, ids: Sequence[str]) -> None: ...


class FollowGraph(Protocol):
    async def follow(self, *, follower: UserId, followee: UserId) -> bool:
        """True if the edge is new; following twice is not an error."""

    async def follow_many(self, *, pairs: Sequence[tuple[UserId, UserId]]) -> int:
        """Add (follower, followee) edges in one round trip (data generators); returns how
        many were new."""

    async def unfollow(self, *, follower: UserId, followee: UserId) -> bool:
        """True if an edge was removed."""

    async def follows(self, *, follower: UserId, followees: Sequence[UserId]) -> set[UserId]:
        """Which of followees the follower follows."""

    async def followers_among(self, *, user_id: UserId, candidates: Sequence[UserId]) -> set[UserId]:
        """Which of candidates follow user_id (fan-out's re-check after writing a chunk)."""

    async def follow_counts(self, *, user_ids: Sequence[UserId]) -> dict[UserId, FollowCounts]:
        """Counts for every id asked for (zero for unknown ids)."""

    async def followers(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        """Who follows user_id, most recent first, in pages.

        next_cursor is None exactly when no one is left after this page (so a
        client's hasNextPage is exact, and fan-out knows it reached the end).
        """

    async def following(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        """Whom user_id follows, most recent first, in pages."""

    async def follower_spans(self, *, user_id: UserId, size: int) -> list[str]:
        """Cut user_id's followers into spans of about `size` (none when there are no
        followers), which together hold every current follower; each span is an opaque string for
        `followers_in`. A fan-out plans its chunks with this once, then workers read their
        spans in parallel, each at a cost that does not grow with the total follower count."""

    async def followers_in(self, *, user_id: UserId, span: str) -> list[UserId]:
        """The current followers of user_id within one span from follower_spans (followers
        who left are gone from it; some who came later may be in it)."""


class TimelineStore(Protocol):
    """Materialised home timelines, newest first. A reader sees the newest `cap` entries.

    Each timeline has a *floor*, a post id: at and above it, the timeline holds every post
    of its sources that fan-out has delivered (it is exact there); below it, it may hold
    some older entries with gaps. Stores trim lazily: they keep some entries past the cap
    and now and then delete them, moving the floor up to the cap-th entry. A removal can
    leave fewer than cap entries at or above the floor: `shortfall` says so, and `refill`
    takes the missing posts, which are all older than the floor, and moves the floor down.
    A floor of 0 means exact all the way down: such a timeline is never short.

    Every write is idempotent under concurrency: identical writes, removals and trims
    racing each other leave what one of them alone would have left.
    """

    cap: int
    # about one push in `trim_every` trims a timeline, so each holds up to about that many
    # entries past the cap between trims
    trim_every: int

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        """Fan one post out to many timelines; adding an entry again changes nothing."""

    async def backfill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], complete_above: PostId | None
    ) -> None:
        """Add one source's newest posts to a timeline (a follow). `complete_above` is the
        oldest of them when the source has older ones too (the floor rises to it), None when
        these are all of the source's posts."""

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        """Remove a post from these timelines; return the owners that held it."""

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        """Remove an author's posts from one timeline; return how many were removed."""

    async def shortfall(self, *, owners: Sequence[UserId]) -> dict[UserId, Shortfall]:
        """The owners among these whose timelines hold fewer than cap entries at or above
        their floor (a floor above 0), and what they lack. The others are left out."""

    async def refill(
        self, *, owner: UserId, entries: Sequence[TimelineEntry], below: PostId, wanted: int
    ) -> bool:
        """Add `entries`: the newest `wanted` posts of all the owner's sources older than
        `below` (fewer when there are no more). If the floor is still `below`, it moves down to
        the oldest of them (to 0 when there were fewer than wanted) and this returns True;
        False means the floor moved meanwhile (ask `shortfall` again)."""

    async def rebuild(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        """Add `entries`, the newest `cap` posts of all the owner's sources (fewer when there
        are no more), and set the floor to the oldest of them (0 when fewer than cap): for a
        timeline that missed pushes (a returning inactive user) or was never built (seeding)."""

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        """Newest first, older than `before` when given; from the top, at most cap entries."""

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]:
        """Entries stored per owner, those kept past the cap included (tests, storage studies)."""


class Cache(Protocol):
    """A cache in front of the stores; losing any of it changes no answer."""

    async def get_many(self, *, keys: Sequence[str]) -> dict[str, bytes]: ...

    async def set_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None: ...

    async def add_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None:
        """Set only the keys that hold nothing (a load must not overwrite a tombstone)."""

    async def replace_many(self, *, items: Mapping[str, tuple[bytes, bytes]], ttl_seconds: int) -> None:
        """Set each key to its new value only where it still holds the expected one, atomically
        per key ({key: (expected, new)}): a load stores what it read only while the lease it
        took before reading is still there, so a change, a tombstone or an eviction wins."""

    async def delete(self, *, keys: Sequence[str]) -> None: ...


class Subscription(Protocol):
    """Messages from the channels subscribed to, as (channel, message)."""

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...


class EventBus(Protocol):
    """Fire-and-forget pub/sub for live events (subscribers not listening miss them)."""

    async def publish(self, *, channel: str, message: bytes) -> None: ...

    def subscribe(self, *, channels: Sequence[str]) -> AbstractAsyncContextManager[Subscription]: ...


class Queue(Protocol):
    """At-least-once work queue with a dead-letter queue, with SQS FIFO's rules.

    A received message is hidden for the visibility timeout; if it is not acknowledged
    by then (or its lease extended) it is delivered again. After `max_receives`
    deliveries it moves to the dead-letter queue instead.

    Deduplication: a dedup key is remembered for 5 minutes from its FIRST send (a shorter
    window in tests), acknowledged or not: a send with it within the window is dropped even
    if the first message was acknowledged or dead-lettered meanwhile; a send after it is
    accepted even if the first is still waiting. Nothing may count on a key longer.

    Receipts: a receipt names one delivery and expires with its lease. Once the message has
    been received again, settling with an older receipt (ack, extend, retry_later,
    dead_letter) changes nothing: the queue either ignores it (SQLite) or raises
    PermanentStoreError (SQS: AWS refuses an expired FIFO receipt handle). Between the lease's
    end and the next receive, whether an old receipt still settles is not promised. Callers
    must treat such a refusal as "no longer mine", never as the queue failing. release
    ignores receipts that are stale or gone (nothing to hand back).
    """

    async def send(self, *, messages: Sequence[Outgoing]) -> None: ...

    async def receive(self, *, max_messages: int, wait_seconds: float) -> list[QueueMessage]: ...

    async def extend(self, *, receipts: Sequence[str], seconds: float) -> None:
        """Keep received messages hidden for `seconds` from now: the heartbeat of long work."""

    async def release(self, *, receipts: Sequence[str]) -> None:
        """Hand received messages back unhandled, visible again at once (a worker shutting down)."""

    async def ack(self, *, receipts: Sequence[str]) -> None: ...

    async def retry_later(self, *, receipt: str, delay_seconds: float) -> None:
        """Make a received message visible again after the delay."""

    async def dead_letter(self, *, receipts: Sequence[str]) -> None:
        """Move received messages to the dead-letter queue now (permanent failures)."""

    async def dead_letters(self, *, limit: int) -> list[bytes]: ...

    async def depth(self) -> QueueDepth: ...

    async def oldest_age(self) -> float | None:
        """Seconds since the oldest message still in the queue (waiting or in flight) was sent,
        0 when it is empty; None when the queue cannot say (SQS: it is CloudWatch's
        ApproximateAgeOfOldestMessage, not a queue attribute)."""


class FanoutLedger(Protocol):
    """The progress of planned fan-outs: each one's chunk plan, recorded once, and which of
    its chunks are done. Tasks are named by the caller ("<post id>:add").

    The recorded plan is the only source of a task's chunk count: whichever planner runs,
    however the follower set changed in between, exactly one `finish` answers True. Each
    call costs one lookup or one write of its own task and chunk, whatever the plan's size,
    except `done`, which reads them all (the planner's resend, once per plan). Finished
    tasks are kept a week (so a redelivered plan finds its work done), then dropped."""

    async def plan(self, *, task: str, spans: Sequence[str]) -> list[str]:
        """Record these spans as the task's plan unless a plan is recorded already; return the
        recorded plan either way, so a planner that runs twice sends the same chunks."""

    async def recorded(self, *, task: str) -> list[str] | None:
        """The task's recorded plan, or None if none is."""

    async def is_done(self, *, task: str, chunk: int) -> bool:
        """Whether this chunk (an index into the plan) is done."""

    async def finish(self, *, task: str, chunk: int, spans: Sequence[str] | None = None) -> bool:
        """Mark the chunk done, counting it once however many workers race; True for the one
        call that makes every chunk of the recorded plan done. With spans, they are recorded
        as the plan first unless one is (a fan-out handled in place, in one write)."""

    async def done(self, *, task: str) -> set[int]:
        """The task's chunks that are done."""
