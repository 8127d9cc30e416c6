"""createPost and deletePost. Domain errors become the union's error types (api.errors)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.context import Info
from api.entities import parse_id, present
from api.errors import (
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    NotPostAuthor,
    ServiceUnavailable,
)
from api.posts.types import DeletePostPayload, Post, PostPayload
from murmur import domain

PostResult = Annotated[
    PostPayload | NotAuthenticated | InvalidToken | InvalidInput | ServiceUnavailable,
    strawberry.union("PostResult"),
]
DeletePostResult = Annotated[
    DeletePostPayload | NotAuthenticated | InvalidToken | NotFound | NotPostAuthor | ServiceUnavailable,
    strawberry.union("DeletePostResult"),
]


@strawberry.type(name="Mutation")
class PostsMutation:
    @strawberry.mutation
    async def create_post(self, info: Info, body: str) -> PostResult:
        viewer = await info.context.require_viewer()
        post = await info.context.platform.feed.create_post(author=viewer, body=body)
        info.context.loaders.posts.prime(post.id, post)
        return PostPayload(post=present(Post, post))

    @strawberry.mutation
    async def delete_post(self, info: Info, id: strawberry.ID) -> DeletePostResult:
        viewer = await info.context.require_viewer()
        post_id = parse_id(id)
        if post_id is None:
            raise domain.NotFound("post", id)
        deleted = await info.context.platform.feed.delete_post(viewer=viewer, post_id=domain.PostId(post_id))
        info.context.loaders.posts.clear(deleted)
        return DeletePostPayload(post_id=strawberry.ID(deleted))
