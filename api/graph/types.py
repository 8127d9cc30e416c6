"""The graph slice of User: follow counts, viewerFollows, followers and following."""

from __future__ import annotations

from typing import Protocol

import strawberry

from api.context import Info
from api.entities import UserEntity, present
from api.errors import bad_request
from api.relay import Connection, connection, decode_cursor, encode_cursor, page_size
from murmur import domain


class FollowListPage(Protocol):
    """FollowGraph.followers or FollowGraph.following."""

    async def __call__(
        self, *, user_id: domain.UserId, after: str | None, limit: int
    ) -> domain.Page[domain.UserId]: ...


@strawberry.federation.type(keys=["id"], name="User")
class User(UserEntity):
    id: strawberry.ID

    @strawberry.field
    async def follower_count(self, root: strawberry.Parent[domain.User], info: Info) -> int:
        return (await info.context.loaders.follow_counts.load(root.id)).followers

    @strawberry.field
    async def following_count(self, root: strawberry.Parent[domain.User], info: Info) -> int:
        return (await info.context.loaders.follow_counts.load(root.id)).following

    # Whether the logged-in user follows this user (false when logged out).
    @strawberry.field
    async def viewer_follows(self, root: strawberry.Parent[domain.User], info: Info) -> bool:
        viewer = await info.context.viewer()
        if viewer is None or viewer == root.id:
            return False
        return await info.context.loaders.follows_of(viewer).load(root.id)

    # Who follows this user, most recent first.
    @strawberry.field
    async def followers(
        self,
        root: strawberry.Parent[domain.User],
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[User]:
        graph = info.context.platform.backends.graph
        return await _user_page(info, "followers", graph.followers, root.id, first, after)

    # Whom this user follows, most recent first.
    @strawberry.field
    async def following(
        self,
        root: strawberry.Parent[domain.User],
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[User]:
        graph = info.context.platform.backends.graph
        return await _user_page(info, "following", graph.following, root.id, first, after)


async def _user_page(
    info: Info,
    kind: str,
    read: FollowListPage,
    user_id: domain.UserId,
    first: int | None,
    after: str | None,
) -> Connection[User]:
    """A page of a follow list.

    The graph pages behind its own opaque cursors, which only mark page ends. An
    edge's cursor is therefore (graph cursor, items to skip after it); the last
    edge of a page carries the graph's own next cursor, so reading on page by page
    never skips anything.
    """
    maximum = info.context.settings.api.max_page_size
    limit = page_size(first, maximum=maximum)
    graph_cursor: str | None = None
    skip = 0
    if after is not None:
        stored, skip_part = decode_cursor(after, kind, str, int)
        graph_cursor, skip = str(stored) or None, int(skip_part)
        if not 0 <= skip <= maximum:  # no edge cursor skips more than a page
            raise bad_request("Invalid cursor: pass a cursor this list returned.")
    if limit == 0:  # an empty page that still says whether anything follows
        probe = await read(user_id=user_id, after=graph_cursor, limit=skip + 1)
        return connection((), has_next=len(probe.items) > skip, has_previous=after is not None)
    page = await read(user_id=user_id, after=graph_cursor, limit=skip + limit)
    ids = page.items[skip : skip + limit]
    users = await info.context.loaders.users.load_many(ids)
    has_next = page.next_cursor is not None

    def cursor(index: int) -> str:
        if index == len(ids) - 1 and page.next_cursor is not None:
            return encode_cursor(kind, page.next_cursor, 0)
        return encode_cursor(kind, graph_cursor or "", skip + index + 1)

    return connection(
        ((cursor(i), present(User, user)) for i, user in enumerate(users) if user is not None),
        has_next=has_next,
        has_previous=after is not None,
    )


@strawberry.type
class FollowPayload:
    user: User = strawberry.field(description="The user followed or unfollowed, counts updated.")
