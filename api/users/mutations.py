"""register, login and updateProfile. Domain errors become the union's error types (api.errors)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.context import Info
from api.entities import present
from api.errors import (
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    ServiceUnavailable,
    UsernameTaken,
)
from api.users.types import AuthPayload, ProfilePayload, User

AuthResult = Annotated[
    AuthPayload | InvalidInput | UsernameTaken | InvalidCredentials | ServiceUnavailable,
    strawberry.union("AuthResult"),
]
ProfileResult = Annotated[
    ProfilePayload | NotAuthenticated | InvalidToken | InvalidInput | NotFound | ServiceUnavailable,
    strawberry.union("ProfileResult"),
]


@strawberry.type(name="Mutation")
class UsersMutation:
    @strawberry.mutation
    async def register(
        self, info: Info, username: str, password: str, display_name: str | None = None
    ) -> AuthResult:
        session = await info.context.platform.accounts.register(
            username=username, password=password, display_name=display_name
        )
        return AuthPayload(token=session.token, user=present(User, session.user))

    @strawberry.mutation
    async def login(self, info: Info, username: str, password: str) -> AuthResult:
        session = await info.context.platform.accounts.login(username=username, password=password)
        return AuthPayload(token=session.token, user=present(User, session.user))

    @strawberry.mutation
    async def update_profile(
        self, info: Info, display_name: str | None = None, bio: str | None = None
    ) -> ProfileResult:
        viewer = info.context.require_viewer()
        user = await info.context.platform.accounts.update_profile(
            user_id=viewer, display_name=display_name, bio=bio
        )
        info.context.loaders.users.clear(viewer).prime(viewer, user)
        return ProfilePayload(user=present(User, user))
