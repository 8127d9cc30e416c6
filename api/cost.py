"""What an operation may cost, estimated before it runs, and refused over a budget.

The estimate counts the objects an operation may resolve: every field of an object type
counts 1 (or its weight, for the expensive ones below), times the page it asks for —
`first`, else the argument's default, else DEFAULT_PAGE_SIZE — multiplied down every list
path, so `followers(first: 100) { ... followers(first: 100) { ... } }` costs 100 × 100 of
its inner part. `first` over the page-size limit counts as the limit (the field refuses it
anyway). Scalars cost nothing. Introspection of the (small) schema counts each item of
its lists as 1, each list as long as the schema's longest of its kind: GraphiQL's own
introspection query costs about 3,500.
Each fragment is priced once and reused at its spreads, so pricing is linear in the
document's size.

An operation over the budget is refused with code COST_LIMIT_EXCEEDED, its cost and the
budget in the error's extensions. A subscription has a budget of its own, much smaller: its
selection is resolved again for every event it delivers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.type.definition import GraphQLAbstractType
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from api.relay import DEFAULT_PAGE_SIZE

# Fields that cost more than the object they return: each is a store query of its own
# (a home timeline may merge many authors' posts under pull). Keyed by type and field;
# a test checks every key still names a field of the schema.
WEIGHTS: Mapping[tuple[str, str], int] = {
    ("Query", "timeline"): 10,
    ("User", "followers"): 5,
    ("User", "following"): 5,
    ("User", "posts"): 3,
}
PAGE_ARGUMENT = "first"
COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Budget:
    max_cost: int
    max_page_size: int
    # a subscription's selection runs again for every event
    max_subscription_cost: int = 50

    def for_operation(self, subscription: bool) -> int:
        return self.max_subscription_cost if subscription else self.max_cost


class Priced(NamedTuple):
    cost: int
    subscription: bool  # priced against the subscription budget


def cost_error(cost: int, budget: int) -> GraphQLError:
    return GraphQLError(
        f"This operation may cost {cost}, over the budget of {budget}: ask for smaller pages "
        "or fewer nested lists.",
        extensions={"code": COST_LIMIT_EXCEEDED, "cost": cost, "budget": budget},
    )


class CostModel:
    """Prices operations against one schema."""

    def __init__(self, schema: GraphQLSchema, budget: Budget) -> None:
        self.schema = schema
        self.budget = budget
        self.introspection_lists = _introspection_list_lengths(schema)

    def price(
        self, document: DocumentNode, operation_name: str | None, variables: Mapping[str, object]
    ) -> Priced:
        """The cost of the operation asked for, and whether it is a subscription."""
        operation = _selected(document, operation_name)
        subscription = operation is not None and operation.operation is OperationType.SUBSCRIPTION
        return Priced(self.cost(document, operation_name, variables), subscription)

    def cost(
        self, document: DocumentNode, operation_name: str | None, variables: Mapping[str, object]
    ) -> int:
        operation = _selected(document, operation_name)
        if operation is None:
            return 0  # no such operation: execution says so
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        defaults = {
            d.variable.name.value: int(d.default_value.value)
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        return _Pricing(self, fragments, {**defaults, **variables}).selection_set(
            operation.selection_set, root
        )


class _Pricing:
    """One operation's pricing: fragments priced once each, by name."""

    def __init__(
        self, model: CostModel, fragments: dict[str, FragmentDefinitionNode], variables: Mapping[str, object]
    ) -> None:
        self.model = model
        self.fragments = fragments
        self.variables = variables
        self.priced: dict[str, int] = {}

    def selection_set(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                on = self.model.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(node.selection_set, on or parent)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node)
        return total

    def fragment(self, node: FragmentSpreadNode) -> int:
        name = node.name.value
        if name not in self.priced:
            self.priced[name] = 0  # a cycle (validation refuses those) prices as nothing
            fragment = self.fragments.get(name)
            on = self.model.schema.get_type(fragment.type_condition.name.value) if fragment else None
            if fragment is not None and on is not None:
                self.priced[name] = self.selection_set(fragment.selection_set, on)
        return self.priced[name]

    def field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        name = node.name.value
        definition = _field(parent, name)
        if definition is None:
            return 0  # __typename, or an unknown field (validation refuses those)
        returned = get_named_type(definition.type)
        if is_leaf_type(returned):
            return 0
        inner = self.selection_set(node.selection_set, returned) if node.selection_set else 0
        if parent.name.startswith("__"):
            # introspection of a small schema: each item of its lists counts 1, the rest nothing
            length = self.model.introspection_lists.get(name)
            return inner if length is None else length * (1 + inner)
        return WEIGHTS.get((parent.name, name), 1) + self.page(node, definition) * inner

    def page(self, node: FieldNode, definition: GraphQLField) -> int:
        """How many items a list field asks for; 1 for a field without `first`."""
        argument = definition.args.get(PAGE_ARGUMENT)
        if argument is None:
            return 1  # a single object, or a list whose length its connection's `first` priced
        largest = self.model.budget.max_page_size
        given: int | None = None
        for arg in node.arguments or ():
            if arg.name.value == PAGE_ARGUMENT:
                value = arg.value
                if isinstance(value, VariableNode):
                    if value.name.value in self.variables:
                        # anything not a page number prices as the largest page: never less
                        # than what the execution might make of it
                        given = page_number(self.variables[value.name.value])
                        given = largest if given is None else given
                elif isinstance(value, IntValueNode):
                    given = int(value.value)
        if given is None:
            given = argument.default_value if isinstance(argument.default_value, int) else DEFAULT_PAGE_SIZE
        return max(0, min(given, largest))


def page_number(value: object) -> int | None:
    """The Int graphql-core makes of a variable's value (it takes 70.0 as 70), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


# the introspection fields every query root has without declaring them
_INTROSPECTION_ROOTS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


def _field(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name) or _INTROSPECTION_ROOTS.get(name)
    return None


def _selected(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _introspection_list_lengths(schema: GraphQLSchema) -> dict[str, int]:
    """How long each introspection list can be in this schema (its longest)."""
    types = list(schema.type_map.values())
    fields = [t.fields for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    return {
        "types": len(types),
        "directives": len(schema.directives),
        "fields": max((len(f) for f in fields), default=0),
        "args": max(
            [len(field.args) for f in fields for field in f.values()]
            + [len(d.args) for d in schema.directives],
            default=0,
        ),
        "inputFields": max(
            (len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)), default=0
        ),
        "enumValues": max((len(t.values) for t in types if isinstance(t, GraphQLEnumType)), default=0),
        "interfaces": max(
            (len(t.interfaces) for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)),
            default=0,
        ),
        "possibleTypes": max(
            (len(schema.get_possible_types(t)) for t in types if isinstance(t, GraphQLAbstractType)),
            default=0,
        ),
    }
