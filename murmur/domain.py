"""Domain values and the error tree, free of any framework or store.

Ids are 53-bit "snowflakes" written as decimal strings: 40 bits of milliseconds
since 2024-01-01 (until 2058), 10 bits of node, 3 of sequence. Ordering posts by id
is ordering them by (created_at, id), so a timeline needs one sort key, the number
fits a Redis sorted-set score and a JavaScript number exactly, and DynamoDB can sort
on it. The node (settings.node_id) keeps processes apart: two processes with
different nodes never mint the same id.

Errors::

    MurmurError                     anything the core raises on purpose
    ├── DomainError                 expected; shown to the client as a typed result
    │   ├── NotAuthenticated
    │   │   └── InvalidToken        a token was sent but is expired, revoked or not Murmur's
    │   ├── InvalidInput            bad body, username, password, profile field
    │   ├── UsernameTaken
    │   ├── InvalidCredentials
    │   ├── NotFound                unknown user or post
    │   ├── CannotFollowSelf
    │   ├── NotPostAuthor
    │   └── TooManyAttempts     login or register over its budget: retry after a while
    └── StoreError                  a backend failed
        ├── RetryableStoreError     timeouts, throttling, connection loss: try again
        └── PermanentStoreError     the request itself is wrong: retrying won't help
            └── IdTaken             a new record's id is in use: mint another
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, NewType, TypeVar

UserId = NewType("UserId", str)
PostId = NewType("PostId", str)
T = TypeVar("T")

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SEQUENCE_BITS = 3
NODE_BITS = 10
NODES = 1 << NODE_BITS
_SEQUENCE_MAX = (1 << SEQUENCE_BITS) - 1


class IdGenerator:
    """Time-ordered, unique ids: 40 bits of ms, 10 bits of node, 3 of sequence.

    Eight ids a millisecond per node, as Snowflake: a burst past that waits for the clock
    to reach the next millisecond (under 1 ms, spinning: next_id is synchronous and is
    called on the event loop, which it holds that long at most), so live ids never run
    ahead of the clock. A new generator issues no live id in the millisecond it started
    in, so a process restarted with the same node (a StatefulSet ordinal, MURMUR_NODE_ID)
    cannot reissue an id of its predecessor: those were all minted before it started, as
    long as the wall clock does not step back across the restart. If the clock steps back
    within a process, ids continue from the last one issued (unique, a little ahead) until
    the clock catches up. Processes must have different nodes (settings.node_id); stores
    still refuse a duplicate id (IdTaken) and the caller mints another.

    Backdated ids (`at`: seeding, data generators) count per millisecond apart from the
    live ones; a backdated id can meet another process's, which IdTaken covers.
    """

    def __init__(self, node: int, *, clock: Callable[[], float] = time.time) -> None:
        if not 0 <= node < NODES:
            raise ValueError(f"an id node is 0..{NODES - 1}")
        self._node = node
        self._clock = clock
        # the start millisecond counts as used up: the first live id is in a later one
        self._last_ms = self._now_ms()
        self._sequence = _SEQUENCE_MAX
        self._backdated: dict[int, int] = {}
        self._lock = threading.Lock()

    @property
    def node(self) -> int:
        return self._node

    def _now_ms(self) -> int:
        return int(self._clock() * 1000) - EPOCH_MS

    def next_id(self, at: datetime | None = None) -> str:
        with self._lock:
            if at is None:
                ms, sequence = self._next_live()
            else:
                ms = int(at.timestamp() * 1000) - EPOCH_MS
                # backdated ids: count per millisecond, and move to the next millisecond
                # when one is full
                while (sequence := self._backdated.get(ms, 0)) > _SEQUENCE_MAX:
                    ms += 1
                self._backdated[ms] = sequence + 1
        return str((ms << (NODE_BITS + SEQUENCE_BITS)) | (self._node << SEQUENCE_BITS) | sequence)

    def _next_live(self) -> tuple[int, int]:
        ms = self._now_ms()
        if ms > self._last_ms:
            self._last_ms, self._sequence = ms, 0
        elif self._sequence < _SEQUENCE_MAX:
            self._sequence += 1
        elif ms == self._last_ms:
            # this millisecond is used up: wait (< 1 ms) for the clock to reach the next
            while (ms := self._now_ms()) == self._last_ms:
                time.sleep(0)  # let other threads run meanwhile
            if ms > self._last_ms:
                self._last_ms, self._sequence = ms, 0
            else:  # the clock stepped back while waiting
                self._last_ms, self._sequence = self._last_ms + 1, 0
        else:
            # the clock stepped back: continue after the last id issued, never reuse one
            self._last_ms, self._sequence = self._last_ms + 1, 0
        return self._last_ms, self._sequence


def id_time(any_id: str) -> datetime:
    """The creation time encoded in an id."""
    ms = (int(any_id) >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def id_key(any_id: str) -> int:
    """The id as a number, for sorting and for stores that sort numerically."""
    return int(any_id)


class Delivery(enum.StrEnum):
    """How a post reaches followers, fixed when it is written."""

    PUSHED = "pushed"  # copied into each follower's materialised timeline
    PULLED = "pulled"  # merged into followers' timelines when they read


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    username: str
    display_name: str
    bio: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str
    token_version: int = 0  # tokens carrying another version are refused (revoked)


@dataclass(frozen=True, slots=True)
class Post:
    id: PostId
    author_id: UserId
    body: str
    created_at: datetime
    delivery: Delivery = Delivery.PUSHED


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One post in a materialised timeline; the author lets unfollow find it."""

    post_id: PostId
    author_id: UserId


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A slice of a longer list and the opaque cursor of what comes after it."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    display_name: str | None = None
    bio: str | None = None


# --- errors -------------------------------------------------------------------


class MurmurError(Exception):
    """Anything the core raises on purpose."""


@dataclass
class DomainError(MurmurError):
    """An expected failure, answered to the client as a typed GraphQL result."""

    message: str = ""

    def __post_init__(self) -> None:
        super().__init__(self.message)


class NotAuthenticated(DomainError):
    def __init__(self, message: str = "You must be logged in to do that.") -> None:
        super().__init__(message)


class InvalidToken(NotAuthenticated):
    """A token was sent but cannot be used: expired, or not one Murmur signed (forged, altered,
    `alg=none`, malformed). Unlike sending none, the client should log in again."""

    def __init__(self, *, expired: bool, revoked: bool = False) -> None:
        self.expired = expired
        self.revoked = revoked
        if expired:
            message = "Your token has expired: log in again."
        elif revoked:
            message = "Your token was revoked (logged out everywhere): log in again."
        else:
            message = "Your token is not valid: log in again."
        super().__init__(message)


@dataclass
class InvalidInput(DomainError):
    field: str = ""


class UsernameTaken(DomainError):
    def __init__(self, username: str) -> None:
        super().__init__(f"The username {username!r} is taken.")


class InvalidCredentials(DomainError):
    def __init__(self) -> None:
        super().__init__("Wrong username or password.")


class NotFound(DomainError):
    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"No {what} with id {ident!r}.")


class CannotFollowSelf(DomainError):
    def __init__(self) -> None:
        super().__init__("You cannot follow yourself.")


class NotPostAuthor(DomainError):
    def __init__(self) -> None:
        super().__init__("Only the author can delete a post.")


class TooManyAttempts(DomainError):
    """Too many logins or registrations from one address, or failed logins to one account."""

    def __init__(self, *, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(f"Too many attempts: try again in {retry_after_seconds} s.")


class StoreError(MurmurError):
    """A backend failed."""


class RetryableStoreError(StoreError):
    """Timeouts, throttling, lost connections: the same call may succeed later."""


class PermanentStoreError(StoreError):
    """The request itself is wrong; retrying will not help."""


class IdTaken(PermanentStoreError):
    """A new record's id is in use (two processes shared a node): mint another and try again."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Input bounds every entry point enforces."""

    username_min: int = 3
    username_max: int = 30
    password_min: int = 8
    password_max: int = 128
    display_name_max: int = 50
    bio_max: int = 280
    body_max: int = 500
