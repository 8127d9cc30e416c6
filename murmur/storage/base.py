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


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A queue message saved in the same write as the change it announces."""

    id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class QueueMessage:
    receipt: str  # hands the message back to ack, retry or dead-letter it
    body: bytes
    receive_count: int  # 1 on first delivery


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
        """Raise UsernameTaken if the username is in use, compared case-insensitively."""

    async def users_by_id(self, *, ids: Sequence[UserId]) -> dict[UserId, User]:
        """The users that exist among ids; unknown ids are left out."""

    async def credentials(self, *, username: str) -> Credentials | None:
        """Look up by username, case-insensitively."""

    async def user_by_username(self, *, username: str) -> User | None: ...

    async def update_profile(self, *, user_id: UserId, update: ProfileUpdate) -> User:
        """Set the fields that are not None; raise NotFound for an unknown user."""

    async def count_users(self) -> int: ...


class PostStore(Protocol):
    """Posts, and the outbox of fan-out events written atomically with them."""

    async def create_post(self, *, post: Post, outbox: OutboxMessage) -> None:
        """Save the post and its outbox message in one atomic write.

        The caller picks the message id, so it can mark it published after sending it.
        """

    async def delete_post(self, *, post_id: PostId, outbox: OutboxMessage) -> Post | None:
        """Delete the post and save the outbox message atomically; None (and no message) if
        it was not there."""

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

    async def count_posts(self) -> int: ...

    async def outbox_pending(self, *, older_than_seconds: float, limit: int) -> list[OutboxMessage]:
        """Outbox messages saved at least that long ago and not yet marked published."""

    async def outbox_published(self, *, ids: Sequence[str]) -> None: ...


class FollowGraph(Protocol):
    async def follow(self, *, follower: UserId, followee: UserId) -> bool:
        """True if the edge is new; following twice is not an error."""

    async def unfollow(self, *, follower: UserId, followee: UserId) -> bool:
        """True if an edge was removed."""

    async def follows(self, *, follower: UserId, followees: Sequence[UserId]) -> set[UserId]:
        """Which of followees the follower follows."""

    async def follow_counts(self, *, user_ids: Sequence[UserId]) -> dict[UserId, FollowCounts]:
        """Counts for every id asked for (zero for unknown ids)."""

    async def followers(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        """Who follows user_id, most recent first, in pages.

        next_cursor is None exactly when no one is left after this page (so a
        client's hasNextPage is exact, and fan-out knows it reached the end).
        """

    async def following(self, *, user_id: UserId, after: str | None, limit: int) -> Page[UserId]:
        """Whom user_id follows, most recent first, in pages."""


class TimelineStore(Protocol):
    """Materialised home timelines, newest first, each capped at `cap` entries."""

    cap: int

    async def add_to_timelines(self, *, owners: Sequence[UserId], entry: TimelineEntry) -> None:
        """Fan one post out; re-adding an entry changes nothing. Each timeline is trimmed to cap."""

    async def add_entries(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        """Backfill one timeline; trimmed to cap."""

    async def remove_post(self, *, owners: Sequence[UserId], post_id: PostId) -> list[UserId]:
        """Remove a post from these timelines; return the owners that held it."""

    async def remove_author(self, *, owner: UserId, author_id: UserId) -> int:
        """Remove an author's posts from one timeline; return how many were removed."""

    async def timeline(self, *, owner: UserId, before: PostId | None, limit: int) -> list[TimelineEntry]:
        """Newest first, older than `before` when given."""

    async def timeline_sizes(self, *, owners: Sequence[UserId]) -> dict[UserId, int]: ...

    async def replace(self, *, owner: UserId, entries: Sequence[TimelineEntry]) -> None:
        """Replace a whole timeline (rebuilds)."""


class Cache(Protocol):
    """A cache in front of the stores; losing any of it changes no answer."""

    async def get_many(self, *, keys: Sequence[str]) -> dict[str, bytes]: ...

    async def set_many(self, *, items: Mapping[str, bytes], ttl_seconds: int) -> None: ...

    async def delete(self, *, keys: Sequence[str]) -> None: ...


class Subscription(Protocol):
    """Messages from the channels subscribed to, as (channel, message)."""

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...


class EventBus(Protocol):
    """Fire-and-forget pub/sub for live events (subscribers not listening miss them)."""

    async def publish(self, *, channel: str, message: bytes) -> None: ...

    def subscribe(self, *, channels: Sequence[str]) -> AbstractAsyncContextManager[Subscription]: ...


class Queue(Protocol):
    """At-least-once work queue with a dead-letter queue.

    A received message is hidden for the visibility timeout; if it is not
    acknowledged by then it is delivered again. After `max_receives` deliveries
    it moves to the dead-letter queue instead.
    """

    async def send(self, *, bodies: Sequence[bytes]) -> None: ...

    async def receive(self, *, max_messages: int, wait_seconds: float) -> list[QueueMessage]: ...

    async def ack(self, *, receipts: Sequence[str]) -> None: ...

    async def retry_later(self, *, receipt: str, delay_seconds: float) -> None:
        """Make a received message visible again after the delay."""

    async def dead_letter(self, *, receipts: Sequence[str]) -> None:
        """Move received messages to the dead-letter queue now (permanent failures)."""

    async def dead_letters(self, *, limit: int) -> list[bytes]: ...

    async def depth(self) -> QueueDepth: ...
