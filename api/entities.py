"""What every slice of the User and Post entities shares.

Each domain package declares its own slice of User and Post (the fields it
owns). All slices resolve from the core's domain objects (murmur.domain.User,
murmur.domain.Post): plain fields read the attribute of the same name, so any
slice's resolvers work on any root and the gateway can merge the slices into one
type. The mixins here give every slice the same entity behaviour:
`resolve_reference` for federation's `_entities`, and `is_type_of`, which lets a
union (`_Entity`) recognise a domain object as its GraphQL type.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar, cast

from graphql import GraphQLResolveInfo

from api.context import Info
from murmur import domain

T = TypeVar("T")

_MAX_ID_DIGITS = 20  # ids are 53-bit numbers: anything longer is not an id


def parse_id(value: object) -> str | None:
    """An id as the stores know it (decimal digits), or None for anything else."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_DIGITS and value.isascii() and value.isdigit():
        return value
    return None


def present(graphql_type: type[T], value: object) -> T:
    """Hand a domain object to Strawberry as `graphql_type`, without copying it.

    Only a typing step: the entity slices resolve from the domain object's attributes.
    """
    return cast(T, value)


async def _none() -> None:
    return None


class UserEntity:
    @classmethod
    def is_type_of(cls, obj: Any, _info: GraphQLResolveInfo[Any]) -> bool:
        return isinstance(obj, (domain.User, cls))

    @classmethod
    def resolve_reference(cls, info: Info, id: str) -> Awaitable[domain.User | None]:
        user_id = parse_id(id)
        if user_id is None:
            return _none()
        return info.context.loaders.users.load(domain.UserId(user_id))


class PostEntity:
    @classmethod
    def is_type_of(cls, obj: Any, _info: GraphQLResolveInfo[Any]) -> bool:
        return isinstance(obj, (domain.Post, cls))

    @classmethod
    def resolve_reference(cls, info: Info, id: str) -> Awaitable[domain.Post | None]:
        post_id = parse_id(id)
        if post_id is None:
            return _none()
        return info.context.loaders.posts.load(domain.PostId(post_id))
