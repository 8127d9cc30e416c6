"""timeline: the viewer's home timeline, a page at a time."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.entities import parse_id, present
from api.errors import bad_request
from api.feed.types import Post
from api.posts.types import prefetch_authors
from api.relay import Connection, connection, decode_cursor, encode_cursor, page_size
from murmur.domain import PostId

_CURSOR = "timeline"


def _resume_after(after: str | None, cap: int) -> tuple[PostId | None, int]:
    """The post a cursor points at and the position of the next one.

    The cursor carries the position as well as the post, because the core
    enforces the timeline cap from where a page starts.
    """
    if after is None:
        return None, 0
    post_id, position = decode_cursor(after, _CURSOR, str, int)
    if parse_id(post_id) is None or not 0 <= int(position) < cap:
        raise bad_request("Invalid cursor: pass a cursor this list returned.")
    return PostId(str(post_id)), int(position) + 1


@strawberry.type(name="Query")
class FeedQuery:
    # The viewer's home timeline, newest first.
    @strawberry.field
    async def timeline(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Post]:
        context = info.context
        viewer = await context.viewer()
        if viewer is None:
            raise context.login_required("Log in to read your timeline.")
        limit = page_size(first, maximum=context.settings.api.max_page_size)
        feed = context.platform.feed
        after_id, start = _resume_after(after, feed.cap)
        page = await feed.home_timeline(viewer=viewer, after=after_id, start=start, first=limit)
        posts = await context.loaders.posts.load_many(page.post_ids)
        await prefetch_authors(info, posts)
        return connection(
            (
                (encode_cursor(_CURSOR, post.id, page.start + index), present(Post, post))
                for index, post in enumerate(posts)
                if post is not None  # deleted since the timeline was read
            ),
            has_next=page.has_next,
            has_previous=start > 0,
        )
