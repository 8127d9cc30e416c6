"""follow and unfollow. Domain errors become the union's error types (api.errors)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.context import Info
from api.entities import parse_id, present
from api.errors import CannotFollowSelf, InvalidToken, NotAuthenticated, NotFound, ServiceUnavailable
from api.graph.types import FollowPayload, User
from murmur import domain

FollowResult = Annotated[
    FollowPayload | NotAuthenticated | InvalidToken | NotFound | CannotFollowSelf | ServiceUnavailable,
    strawberry.union("FollowResult"),
]


async def _change_follow(info: Info, user_id: str, *, follow: bool) -> FollowPayload:
    context = info.context
    viewer = await context.require_viewer()
    target = parse_id(user_id)
    if target is None:
        raise domain.NotFound("user", user_id)
    target_id = domain.UserId(target)
    feed = context.platform.feed
    await (feed.follow if follow else feed.unfollow)(viewer=viewer, target=target_id)
    context.loaders.forget_follows(target_id)
    context.loaders.forget_follows(viewer)
    user = await context.loaders.users.load(target_id)
    return FollowPayload(user=present(User, user))


@strawberry.type(name="Mutation")
class GraphMutation:
    @strawberry.mutation
    async def follow(self, info: Info, user_id: strawberry.ID) -> FollowResult:
        return await _change_follow(info, user_id, follow=True)

    @strawberry.mutation
    async def unfollow(self, info: Info, user_id: strawberry.ID) -> FollowResult:
        return await _change_follow(info, user_id, follow=False)
