"""Values for the contract tests: fresh ids, users, posts and outbox messages."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from murmur.domain import Delivery, IdGenerator, Page, Post, PostId, User, UserId, id_time
from murmur.storage.base import OutboxMessage

T = TypeVar("T")
_ids = IdGenerator(node=1)


class QueueClock:
    """Unix seconds now, plus however far a test has moved it on: a queue's dedup window
    (5 minutes) is crossed without waiting for it."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead

    def advance(self, seconds: float) -> None:
        self.ahead += seconds


@dataclass(frozen=True)
class QueueConfig:
    """What the queue fixtures are built with (short, so redelivery tests are quick)."""

    visibility_timeout_seconds: float = 0.5
    max_receives: int = 3
    clock: QueueClock = field(default_factory=QueueClock)  # times the dedup window


def new_id(at: datetime | None = None) -> str:
    return _ids.next_id(at)


def new_user(username: str | None = None) -> User:
    user_id = UserId(new_id())
    return User(
        id=user_id,
        username=username or f"user{user_id}",
        display_name="Someone",
        bio="",
        created_at=id_time(user_id),  # whole milliseconds: every store keeps that much
    )


def new_post(author: UserId, *, delivery: Delivery = Delivery.PUSHED, at: datetime | None = None) -> Post:
    post_id = PostId(new_id(at))
    return Post(
        id=post_id, author_id=author, body=f"post {post_id}", created_at=id_time(post_id), delivery=delivery
    )


def created_message(post: Post) -> OutboxMessage:
    return OutboxMessage(id=f"{post.id}:created", body=f"created {post.id}".encode())


def deleted_message(post_id: str) -> OutboxMessage:
    return OutboxMessage(id=f"{post_id}:deleted", body=f"deleted {post_id}".encode())


async def all_pages(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> list[list[T]]:
    """Follow a paged listing's cursors to the end."""
    pages: list[list[T]] = []
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
