"""Parse and validate each distinct query text once, limits included; price every operation.

graphql-core's validation dominates the cost of a small query, so documents
and their validation errors are cached by query text (bounded LRUs). The
hardening limits come first: tokens while parsing, then the document's shape
(api/document_limits.py: fragments, depth, aliases, repeated fields, one login),
in one linear pass that refuses a document before graphql-core's rules see it,
then those rules (and introspection's, when it is off). Their verdicts are cached
along with everything else. The cost of the operation asked for depends on its
variables, so it is estimated on every request (api/cost.py), after validation.
"""

from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql.validation.rules import overlapping_fields_can_be_merged
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from api.context import Context
from api.cost import Budget, CostModel, Priced, cost_error, page_number
from api.document_limits import ShapeLimits, shape_errors
from api.rate_limit import rate_limited_error
from api.relay import DEFAULT_PAGE_SIZE
from murmur.settings import ApiSettings

# graphql-core's hint after a misspelt field, argument or type name
_SUGGESTION = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)
# distinct query texts remembered; a client sending endless new texts only evicts
CACHE_SIZE = 256
# The schema has no @defer or @stream (Strawberry's incremental execution is off), so these
# rules can find nothing; each still walks the whole document.
_INCREMENTAL_RULES = frozenset(
    {
        "DeferStreamDirectiveOnRootField",
        "DeferStreamDirectiveOnValidOperationsRule",
        "DeferStreamDirectiveLabel",
        "StreamDirectiveOnListField",
    }
)
RULES: tuple[type[ASTValidationRule], ...] = tuple(
    rule for rule in specified_rules if rule.__name__ not in _INCREMENTAL_RULES
)
# graphql-core meters the field comparisons of OverlappingFieldsCanBeMerged and stops a
# document that spends its budget (500,000 by default, about 100 ms here). Real documents
# spend under 2,000 (GraphiQL's introspection: 0); this keeps the rule to a few ms.
OVERLAP_BUDGET = 20_000
ABORTED = "Validation aborted."
TOO_COMPLEX = "This document is too complex to validate (too many errors or overlapping fields): simplify it."


class DocumentCache:
    def __init__(
        self,
        *,
        shape: ShapeLimits,
        rules: tuple[type[ASTValidationRule], ...],
        max_tokens: int,
        budget: Budget,
        suggestions: bool = True,
    ) -> None:
        self.shape = shape
        self.rules = (*RULES, *rules)
        overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = OVERLAP_BUDGET
        self.max_tokens = max_tokens
        self.budget = budget
        self.suggestions = suggestions
        self.parse = lru_cache(maxsize=CACHE_SIZE)(self._parse)
        self.price = lru_cache(maxsize=CACHE_SIZE)(self._price)
        # verdicts by (schema, query text), least recently used first: `known` asks for one
        self._verdicts: OrderedDict[tuple[int, str], tuple[GraphQLError, ...]] = OrderedDict()
        self._costs: dict[int, CostModel] = {}  # by id of the graphql-core schema

    @classmethod
    def for_settings(cls, api: ApiSettings, *, introspection: bool) -> DocumentCache:
        shape = ShapeLimits(
            max_depth=api.max_depth,
            max_aliases=api.max_aliases,
            max_fragments=api.max_fragments,
            max_fragment_spreads=api.max_fragment_spreads,
        )
        rules: tuple[type[ASTValidationRule], ...] = (
            () if introspection else (NoSchemaIntrospectionCustomRule,)
        )
        budget = Budget(
            max_cost=api.max_cost,
            max_page_size=api.max_page_size,
            max_subscription_cost=api.max_subscription_cost,
        )
        # with introspection off the schema is not public: "Did you mean 'viewer'?" would leak it
        return cls(
            shape=shape, rules=rules, max_tokens=api.max_tokens, budget=budget, suggestions=introspection
        )

    def cost_model(self, schema: GraphQLSchema) -> CostModel:
        model = self._costs.get(id(schema))
        if model is None or model.schema is not schema:
            model = self._costs[id(schema)] = CostModel(schema, self.budget)
        return model

    def _price(
        self,
        schema: GraphQLSchema,
        query: str,
        operation_name: str | None,
        page_sizes: tuple[tuple[str, int | None], ...],
    ) -> Priced:
        """The operation's cost and kind; cached, since they depend only on these (see
        _page_sizes)."""
        return self.cost_model(schema).price(self.parse(query), operation_name, dict(page_sizes))

    def _parse(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def known(self, schema: GraphQLSchema, query: str) -> bool:
        """Whether this text's verdict is cached: validating it again costs nothing."""
        return (id(schema), query) in self._verdicts

    def validate(self, schema: GraphQLSchema, query: str) -> tuple[GraphQLError, ...]:
        key = (id(schema), query)
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts[key] = self._validate(schema, query)
            if len(self._verdicts) > CACHE_SIZE:
                self._verdicts.popitem(last=False)
        else:
            self._verdicts.move_to_end(key)
        return found

    def clear(self) -> None:
        """Forget every document, verdict and price (benchmarks time them cold)."""
        self.parse.cache_clear()
        self.price.cache_clear()
        self._verdicts.clear()

    def _validate(self, schema: GraphQLSchema, query: str) -> tuple[GraphQLError, ...]:
        document = self.parse(query)
        found = tuple(shape_errors(document, self.shape) or validate_document(schema, document, self.rules))
        for error in found:
            if error.message.endswith(ABORTED):
                error.message = TOO_COMPLEX
            elif not self.suggestions:
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
            context.pre_execution_errors = self._pre_execution_errors(context, context.query)
        yield

    def _pre_execution_errors(self, context: ExecutionContext, query: str) -> list[GraphQLError]:
        schema = context.schema._schema
        if not self._cache.known(schema, query):
            refused = _new_query_refused(context.context, query)
            if refused is not None:
                return [refused]
        errors = list(self._cache.validate(schema, query))
        if errors:
            return errors
        priced = self._cache.price(schema, query, context.operation_name, _page_sizes(context))
        if priced.subscription and not isinstance(getattr(context.context, "request", None), WebSocket):
            # a subscription sent as a plain HTTP request cannot stream, and executed as a
            # query it would answer a meaningless null
            return [GraphQLError(SUBSCRIPTIONS_NEED_A_WEBSOCKET)]
        budget = self._cache.budget.for_operation(priced.subscription)
        if priced.cost > budget:
            return [cost_error(priced.cost, budget)]
        return []


def _new_query_refused(context: object, query: str) -> GraphQLError | None:
    """A document not validated before costs this process up to tens of ms: its client
    spends bytes of a budget of its own (MURMUR_RATE_LIMIT__NEW_QUERY_BYTES_PER_IP, kept in
    this process, whose CPU it guards); over it, refused unvalidated."""
    limits = getattr(context, "limits", None)
    if limits is None or not isinstance(context, Context):
        return None
    verdict = limits.new_query(address=context.client_address, size=len(query.encode()))
    if verdict.allowed:
        return None
    if context.response is not None:
        context.response.headers["retry-after"] = str(verdict.retry_after_seconds)
    error = rate_limited_error(verdict.retry_after_seconds)
    return GraphQLError(
        "Too many new documents: try again in "
        f"{verdict.retry_after_seconds} s, or send the ones already sent again (they cost nothing).",
        extensions=error["extensions"],
    )


def _page_sizes(context: ExecutionContext) -> tuple[tuple[str, int | None], ...]:
    """The variables that can change a page size, for pricing (and its cache key): numbers as
    the Int graphql-core makes of them, null as the default page (a null replaces the
    variable's default, and `first: null` serves the default page), anything else but text
    as None (priced as the largest page). Text never coerces to Int, so it cannot change
    what runs."""
    sizes = []
    for name, value in (context.variables or {}).items():
        if isinstance(value, str):
            continue
        sizes.append((name, DEFAULT_PAGE_SIZE if value is None else page_number(value)))
    return tuple(sorted(sizes, key=lambda pair: pair[0]))


SUBSCRIPTIONS_NEED_A_WEBSOCKET = "Subscriptions run over a websocket at /graphql (graphql-transport-ws)."
