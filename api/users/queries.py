"""viewer and user(id, username)."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.entities import parse_id, present
from api.errors import bad_request
from api.users.types import User
from murmur.domain import UserId


@strawberry.type(name="Query")
class UsersQuery:
    # The logged-in user; null without a valid token.
    @strawberry.field
    async def viewer(self, info: Info) -> User | None:
        viewer = await info.context.viewer()
        if viewer is None:
            if info.context.token_problem is not None:  # a token was sent: say it failed, not "nobody"
                raise info.context.login_required("")
            return None
        return present(User, await info.context.loaders.users.load(viewer))

    # A user by id or by username (exactly one of the two).
    @strawberry.field
    async def user(
        self, info: Info, id: strawberry.ID | None = None, username: str | None = None
    ) -> User | None:
        if (id is None) == (username is None):
            raise bad_request("Pass exactly one of `id` and `username`.")
        if username is not None:
            if len(username) > info.context.platform.limits.username_max:
                return None
            return present(
                User, await info.context.platform.backends.users.user_by_username(username=username)
            )
        user_id = parse_id(id)
        if user_id is None:
            return None
        return present(User, await info.context.loaders.users.load(UserId(user_id)))
