"""The posts slice: Post{id body createdAt author}, User{id posts}, and the post payloads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.context import Info
from api.entities import PostEntity, UserEntity, present
from api.relay import Connection, connection, decode_cursor, encode_cursor, page_size
from murmur import domain

_CURSOR = "posts"


@strawberry.federation.type(keys=["id"], name="Post")
class Post(PostEntity):
    id: strawberry.ID
    body: str
    created_at: datetime

    @strawberry.field
    async def author(self, root: strawberry.Parent[domain.Post], info: Info) -> User:
        author = await info.context.loaders.users.load(root.author_id)
        if author is None:  # the stores never keep a post whose author is gone
            raise LookupError(f"post {root.id} has no author {root.author_id}")
        return present(User, author)


@strawberry.federation.type(keys=["id"], name="User")
class User(UserEntity):
    id: strawberry.ID

    # The user's posts, newest first.
    @strawberry.field
    async def posts(
        self,
        root: strawberry.Parent[domain.User],
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Post]:
        limit = page_size(first, maximum=info.context.settings.api.max_page_size)
        before = domain.PostId(str(decode_cursor(after, _CURSOR, str)[0])) if after else None
        posts, has_next = await info.context.platform.feed.user_posts(
            author=root.id, before=before, first=limit
        )
        return connection(
            ((encode_cursor(_CURSOR, post.id), present(Post, post)) for post in posts),
            has_next=has_next,
            has_previous=after is not None,
        )


@strawberry.type
class PostPayload:
    post: Post


@strawberry.type
class DeletePostPayload:
    post_id: strawberry.ID
