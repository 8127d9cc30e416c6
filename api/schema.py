"""The gateway schema: the four subgraphs merged into one, as a federation router would.

Each domain package declares its own slice of the User and Post entities. Here
the slices are composed into one class each, and the composed classes are passed
in `types=`, so they are registered first: every reference to a slice, by name,
then resolves to the composed type (same-name validation is switched off for
exactly that). Query and Mutation are the subgraphs' roots merged field by field.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from api import errors
from api.feed import types as feed
from api.feed.subgraph import FEED
from api.graph import types as graph
from api.graph.subgraph import GRAPH
from api.observability import OperationMetrics
from api.posts import types as posts
from api.posts.subgraph import POSTS
from api.users import types as users
from api.users.subgraph import USERS
from api.validation import CachedValidation, DocumentCache
from murmur.settings import Settings

SUBGRAPHS = (USERS, POSTS, GRAPH, FEED)


@strawberry.type(name="User")
class User(users.User, posts.User, graph.User):
    pass


@strawberry.type(name="Post")
class Post(posts.Post, feed.Post):
    pass


def _merged(name: str, roots: tuple[type | None, ...]) -> type:
    present = tuple(root for root in roots if root is not None)
    return present[0] if len(present) == 1 else merge_types(name, present)


Query = _merged("Query", tuple(s.query for s in SUBGRAPHS))
Mutation = _merged("Mutation", tuple(s.mutation for s in SUBGRAPHS))
Subscription = _merged("Subscription", tuple(s.subscription for s in SUBGRAPHS))


def extensions(settings: Settings) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """Per-request extensions, outermost first. None of them hooks into field resolution."""
    cache = DocumentCache.for_settings(settings.api, introspection=settings.introspection_enabled)
    return [
        OperationMetrics,
        partial(errors.MaskUnexpected, should_mask_error=errors.should_mask),
        partial(CachedValidation, cache=cache),
    ]


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, graphql_errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # client mistakes (validation, bad_request) are answers, not incidents: log only the unexpected
        unexpected = [error for error in graphql_errors if errors.should_mask(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(settings: Settings) -> strawberry.Schema:
    with warnings.catch_warnings():
        # the slices carry federation directives (@key, @shareable); the gateway serves them as a
        # plain schema, the way a router does
        warnings.filterwarnings("ignore", message="Federation directive found", category=UserWarning)
        return GatewaySchema(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            types=[User, Post],
            extensions=extensions(settings),
            config=StrawberryConfig(_unsafe_disable_same_type_validation=True),
            exception_handlers=errors.HANDLERS,
        )
