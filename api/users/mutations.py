"""register, login, logOutEverywhere and updateProfile. Domain errors become the union's error
types (api.errors). login and register spend budgets of their own (api/rate_limit.py) before
a password is hashed or checked."""

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
    TooManyAttempts,
    UsernameTaken,
)
from api.users.types import AuthPayload, ProfilePayload, User

# an account's backoff is keyed by its username; longer names cannot exist
MAX_ACCOUNT_KEY = 64

AuthResult = Annotated[
    AuthPayload | InvalidInput | UsernameTaken | InvalidCredentials | TooManyAttempts | ServiceUnavailable,
    strawberry.union("AuthResult"),
]
LogOutResult = Annotated[
    AuthPayload | NotAuthenticated | InvalidToken | NotFound | ServiceUnavailable,
    strawberry.union("LogOutResult"),
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
        context = info.context
        if context.limits is not None:
            context.refuse_unless(await context.limits.register_attempt(address=context.client_address))
        session = await context.platform.accounts.register(
            username=username, password=password, display_name=display_name
        )
        return AuthPayload(token=session.token, user=present(User, session.user))

    @strawberry.mutation
    async def login(self, info: Info, username: str, password: str) -> AuthResult:
        context, account = info.context, username[:MAX_ACCOUNT_KEY]
        if context.limits is not None:
            verdict = await context.limits.login_attempt(account=account, address=context.client_address)
            context.refuse_unless(verdict)
        session = await context.platform.accounts.login(username=username, password=password)
        if context.limits is not None:
            await context.limits.login_succeeded(account=account)
        return AuthPayload(token=session.token, user=present(User, session.user))

    # Log out everywhere: every token of yours stops working, over HTTP and on open sockets;
    # the answer carries a new one for this client, expiring when the one it sent would have.
    @strawberry.mutation
    async def log_out_everywhere(self, info: Info) -> LogOutResult:
        context = info.context
        viewer = await context.require_viewer()
        assert context.claims is not None  # a viewer comes from verified claims
        session = await context.platform.accounts.revoke_tokens(
            user_id=viewer, not_after=context.claims.expires_at
        )
        return AuthPayload(token=session.token, user=present(User, session.user))

    @strawberry.mutation
    async def update_profile(
        self, info: Info, display_name: str | None = None, bio: str | None = None
    ) -> ProfileResult:
        viewer = await info.context.require_viewer()
        user = await info.context.platform.accounts.update_profile(
            user_id=viewer, display_name=display_name, bio=bio
        )
        info.context.loaders.users.clear(viewer).prime(viewer, user)
        return ProfilePayload(user=present(User, user))
