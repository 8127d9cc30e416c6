"""The users slice of User, and the payloads of the account mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.entities import UserEntity


@strawberry.federation.type(keys=["id"], name="User")
class User(UserEntity):
    id: strawberry.ID
    username: str
    display_name: str
    bio: str
    created_at: datetime


@strawberry.type
class AuthPayload:
    token: str
    user: User


@strawberry.type
class ProfilePayload:
    user: User
