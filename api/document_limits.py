"""The first check a document meets: its shape, in one pass that cannot be made slow.

graphql-core's rules and Strawberry's depth and alias limiters walk a fragment again at
every spread, so `fragment F0 { ...F1 ...F1 } fragment F1 { ...F2 ...F2 } ...` costs 2^n
steps for n fragments: 788 bytes froze a server. Here every fragment is measured once and
its numbers are reused at each spread (memoised), so the cost is linear in the document's
size, and a document over a limit is refused before any other rule runs. The limits:

- fragment definitions and `...Name` spreads, and the nesting of selection sets (inline
  fragments and introspection included), counted as written;
- depth, aliases and the number of field selections as the operation would execute
  (fragments expanded, by arithmetic);
- one response name selected many times in one selection set (graphql-core's
  OverlappingFieldsCanBeMerged compares such fields pairwise: quadratic);
- at most one `login` or `register` per document: each is a password guess.

Introspection fields (`__schema`, `__type`) add no depth, as in Strawberry's limiter;
graphql-core's MaxIntrospectionDepthRule bounds their nesting instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

# fields sharing one response name in one selection set (inline fragments included): a few
# are normal (`... on A { message } ... on B { message }`), hundreds only cost validation time
MAX_REPEATED_FIELD = 20
# field selections once fragments are expanded: written documents stay far below (GraphiQL's
# introspection: about 150); only fragments spread again and again reach it
MAX_EXPANDED_FIELDS = 10_000
AUTH_FIELDS = frozenset({"login", "register"})
ONE_AUTH_FIELD = "At most one login or register per request."


@dataclass(frozen=True, slots=True)
class ShapeLimits:
    max_depth: int
    max_aliases: int
    max_fragments: int
    max_fragment_spreads: int

    @property
    def max_nesting(self) -> int:
        """Selection sets inside each other as written, inline fragments and introspection
        included: graphql-core's visitors slow down quadratically with it. Twice the depth
        leaves room for a union's inline fragment at every level."""
        return 2 * self.max_depth


@dataclass(frozen=True, slots=True)
class _Measure:
    depth: int
    aliases: int
    fields: int  # field selections once every fragment is expanded


class _Cycle(Exception):
    pass


def shape_errors(document: DocumentNode, limits: ShapeLimits) -> list[GraphQLError]:
    """The first limit the document breaks, as a one-element list; empty if none."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    if len(fragments) > limits.max_fragments:
        return [GraphQLError(f"{len(fragments)} fragments found. Allowed: {limits.max_fragments}")]
    written = _as_written(document)
    if written.spreads > limits.max_fragment_spreads:
        return [
            GraphQLError(f"{written.spreads} fragment spreads found. Allowed: {limits.max_fragment_spreads}")
        ]
    if written.repeated is not None:
        name, times = written.repeated
        return [
            GraphQLError(
                f"Field '{name}' is selected {times} times in one selection set. Allowed: {MAX_REPEATED_FIELD}"
            )
        ]
    measure = _Measurer(fragments)
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        try:
            found = measure.selection_set(operation.selection_set)
        except _Cycle:
            return []  # graphql-core's NoFragmentCycles says where
        name = operation.name.value if operation.name else "anonymous"
        if found.depth > limits.max_depth:
            return [GraphQLError(f"'{name}' exceeds maximum operation depth of {limits.max_depth}")]
        if found.aliases > limits.max_aliases:
            return [GraphQLError(f"{found.aliases} aliases found. Allowed: {limits.max_aliases}")]
        if found.fields > MAX_EXPANDED_FIELDS:
            return [
                GraphQLError(
                    f"'{name}' selects {found.fields} fields once its fragments are expanded. "
                    f"Allowed: {MAX_EXPANDED_FIELDS}"
                )
            ]
        if operation.operation is OperationType.MUTATION and _auth_fields(operation, fragments) > 1:
            return [GraphQLError(ONE_AUTH_FIELD)]
    if written.nesting > limits.max_nesting:  # after depth: that says it better for fields
        return [GraphQLError(f"Selections nested {written.nesting} deep. Allowed: {limits.max_nesting}")]
    return []


@dataclass(frozen=True, slots=True)
class _AsWritten:
    spreads: int
    nesting: int  # selection sets inside each other, inline fragments included
    repeated: tuple[str, int] | None  # the first response name selected too often in one set


def _as_written(document: DocumentNode) -> _AsWritten:
    """Counts over the text itself (nothing expanded), in one iterative pass."""
    spreads = nesting = 0
    repeated: tuple[str, int] | None = None
    stack: list[tuple[SelectionSetNode, int]] = [
        (d.selection_set, 1)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        selection_set, level = stack.pop()
        names: Counter[str] = Counter()
        for node, inner in _flattened(selection_set):
            nesting = max(nesting, level + inner)
            if isinstance(node, FragmentSpreadNode):
                spreads += 1
                continue
            names[(node.alias or node.name).value] += 1
            if node.selection_set is not None:
                stack.append((node.selection_set, level + inner + 1))
        if repeated is None and names:
            name, times = names.most_common(1)[0]
            if times > MAX_REPEATED_FIELD:
                repeated = (name, times)
    return _AsWritten(spreads, nesting, repeated)


def _flattened(selection_set: SelectionSetNode) -> Iterator[tuple[FieldNode | FragmentSpreadNode, int]]:
    """The fields and spreads of a selection set with inline fragments opened, each with how
    many inline fragments it sits in (iterative: the nesting is what is being checked)."""
    stack = [(selection_set, 0)]
    while stack:
        current, inner = stack.pop()
        for node in current.selections:
            if isinstance(node, InlineFragmentNode):
                stack.append((node.selection_set, inner + 1))
            else:
                yield node, inner  # type: ignore[misc]  # a FieldNode or a FragmentSpreadNode


class _Measurer:
    """Depth and aliases with fragments expanded, each fragment measured once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._done: dict[str, _Measure] = {}
        self._open: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode) -> _Measure:
        depth = aliases = fields = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                aliases += node.alias is not None
                fields += 1
                if node.selection_set is not None:
                    child = self.selection_set(node.selection_set)
                    aliases, fields = aliases + child.aliases, fields + child.fields
                    if not node.name.value.startswith("__"):
                        depth = max(depth, 1 + child.depth)
            else:
                child = (
                    self.selection_set(node.selection_set)
                    if isinstance(node, InlineFragmentNode)
                    else self._fragment(cast(FragmentSpreadNode, node).name.value)
                )
                depth = max(depth, child.depth)
                aliases, fields = aliases + child.aliases, fields + child.fields
        return _Measure(depth, aliases, fields)

    def _fragment(self, name: str) -> _Measure:
        if name in self._done:
            return self._done[name]
        fragment = self._fragments.get(name)
        if fragment is None:
            return _Measure(0, 0, 0)  # KnownFragmentNames reports it
        if name in self._open:
            raise _Cycle
        self._open.add(name)
        measured = self._done[name] = self.selection_set(fragment.selection_set)
        self._open.discard(name)
        return measured


def _auth_fields(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]) -> int:
    """login and register fields at the root of a mutation, through fragments too (a fragment
    spread twice counts twice: both would run). Fragments are counted once each (memoised);
    the caller has ruled out cycles."""
    counted: dict[str, int] = {}

    def count(selection_set: SelectionSetNode) -> int:
        total = 0
        for node, _ in _flattened(selection_set):
            if isinstance(node, FieldNode):
                total += node.name.value in AUTH_FIELDS
            elif (fragment := fragments.get(node.name.value)) is not None:
                if node.name.value not in counted:
                    counted[node.name.value] = count(fragment.selection_set)
                total += counted[node.name.value]
        return total

    return count(operation.selection_set)
