"""The feed slice: a Post stub (its fields live in the posts subgraph) and the live timeline events."""

from __future__ import annotations

from enum import Enum

import strawberry

from api.entities import PostEntity


@strawberry.federation.type(keys=["id"], name="Post")
class Post(PostEntity):
    id: strawberry.ID


@strawberry.enum
class TimelineEventKind(Enum):
    ADDED = "ADDED"
    REMOVED = "REMOVED"


@strawberry.type
class TimelineEvent:
    kind: TimelineEventKind
    post_id: strawberry.ID
    post: Post | None = strawberry.field(description="The post; null for REMOVED, or when it is gone.")
