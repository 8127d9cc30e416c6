"""Parse and validate each distinct query text once, limits included.

graphql-core's validation dominates the cost of a small query, so documents
and their validation errors are cached by query text (bounded LRUs). The
hardening limits are validation rules (depth, aliases, introspection) or a
parse option (tokens), so their verdicts are cached along with everything else.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from murmur.settings import ApiSettings

# graphql-core's hint after a misspelt field, argument or type name
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)
# distinct query texts remembered; a client sending endless new texts only evicts
CACHE_SIZE = 256


class DocumentCache:
    def __init__(
        self, *, rules: tuple[type[ASTValidationRule], ...], max_tokens: int, suggestions: bool = True
    ) -> None:
        self.rules = (*specified_rules, *rules)
        self.max_tokens = max_tokens
        self.suggestions = suggestions
        self.parse = lru_cache(maxsize=CACHE_SIZE)(self._parse)
        self.validate = lru_cache(maxsize=CACHE_SIZE)(self._validate)

    @classmethod
    def for_settings(cls, api: ApiSettings, *, introspection: bool) -> DocumentCache:
        rules: list[type[ASTValidationRule]] = [
            max_depth_rule(api.max_depth, None),
            max_aliases_rule(api.max_aliases),
        ]
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        # with introspection off the schema is not public: "Did you mean 'viewer'?" would leak it
        return cls(rules=tuple(rules), max_tokens=api.max_tokens, suggestions=introspection)

    def _parse(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def _validate(self, schema: GraphQLSchema, query: str) -> tuple[GraphQLError, ...]:
        found = tuple(validate_document(schema, self.parse(query), self.rules))
        if not self.suggestions:
            for error in found:
                error.message = _SUGGESTION.sub("", error.message)
        return found


class CachedValidation(SchemaExtension):
    """Serves parse and validation from a DocumentCache (instantiated per request, cache shared)."""

    def __init__(self, *, cache: DocumentCache) -> None:
        self._cache = cache

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # if the cached parse fails, Strawberry parses again and reports the error: with the same limit
        context.parse_options["max_tokens"] = self._cache.max_tokens
        if context.query:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self._cache.parse(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is not None:
            # a non-None list tells Strawberry validation has run
            context.pre_execution_errors = list(self._cache.validate(context.schema._schema, context.query))
            if not context.pre_execution_errors and _subscription_over_http(context):
                context.pre_execution_errors = [GraphQLError(SUBSCRIPTIONS_NEED_A_WEBSOCKET)]
        yield


SUBSCRIPTIONS_NEED_A_WEBSOCKET = "Subscriptions run over a websocket at /graphql (graphql-transport-ws)."


def _subscription_over_http(context: ExecutionContext) -> bool:
    """A subscription sent as a plain HTTP request: it cannot stream, and executed as a query
    it would answer a meaningless null."""
    request = getattr(context.context, "request", None)
    return context.operation_type is OperationType.SUBSCRIPTION and not isinstance(request, WebSocket)
