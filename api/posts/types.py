"""The posts slice: Post{id body createdAt author}, User{id posts}, and the post payloads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry

from api.context import Info
from api.entities import PostEntity, UserEntity, present
from api.relay import Connection, connection, decode_cursor, encode_cursor, page_size
from api.selection import selects
from murmur import domain

_CURSOR = "posts"


@strawberry.federation.type(keys=["id"], name="Post")
class Post(PostEntity):
    id: strawberry.ID
    body: str
    created_at: datetime

    @strawberry.field
    def author(self, root: strawberry.Parent[domain.Post], info: Info) -> User:
        # Not async on purpose. A page of posts loads its authors up front (prefetch_authors),
        # so their futures are done: the author is returned as a value and graphql-core completes
        # the whole page synchronously, instead of scheduling a task per post. Otherwise
        # graphql-core awaits the loader's future.
        author = info.context.loaders.users.load(root.author_id)
        return present(User, author.result() if author.done() else author)


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
        before = None if after is None else domain.PostId(str(decode_cursor(after, _CURSOR, str)[0]))
        posts, has_next = await info.context.platform.feed.user_posts(
            author=root.id, before=before, first=limit
        )
        info.context.loaders.users.prime(root.id, root)  # every post's author: no need to load it
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


async def prefetch_authors(info: Info, posts: Iterable[domain.Post | None]) -> None:
    """Load a page's authors in one batch before the page is returned, when the query shows them
    (edges { node { author } }), so that Post.author answers synchronously."""
    if selects(info, "edges", "node", "author"):
        await info.context.loaders.users.load_many(
            list({post.author_id for post in posts if post is not None})
        )
