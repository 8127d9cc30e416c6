"""post(id)."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.entities import parse_id, present
from api.posts.types import Post
from murmur.domain import PostId


@strawberry.type(name="Query")
class PostsQuery:
    @strawberry.field
    async def post(self, info: Info, id: strawberry.ID) -> Post | None:
        post_id = parse_id(id)
        if post_id is None:
            return None
        return present(Post, await info.context.loaders.posts.load(PostId(post_id)))
