"""Request latency per GraphQL operation, with bounded label values."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from graphql import DocumentNode, OperationDefinitionNode, OperationType
from prometheus_client import Histogram
from strawberry.extensions import SchemaExtension

GRAPHQL_DURATION = Histogram(
    "murmur_graphql_request_duration_seconds",
    "GraphQL queries and mutations, from parse to result, per operation name and type",
    ["operation", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Operation names come from clients: past this many distinct ones, new names count as "other".
MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_children: dict[tuple[str, str], Histogram] = {}


def operation_labels(document: DocumentNode | None, requested: str | None) -> tuple[str, str]:
    """(operation name, type) of the operation a request runs; "invalid" when there is none."""
    if document is None:
        return "invalid", "unknown"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if requested is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == requested]
    if len(operations) != 1:
        return "invalid", "unknown"
    operation = operations[0]
    name = operation.name.value if operation.name else "anonymous"
    return (name if _NAME.fullmatch(name) else "invalid"), operation.operation.value


def _histogram(name: str, kind: str) -> Histogram:
    child = _children.get((name, kind))
    if child is None:
        if len(_children) >= MAX_OPERATION_NAMES:
            name = "other"
        child = _children.setdefault((name, kind), GRAPHQL_DURATION.labels(name, kind))
    return child


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            context = self.execution_context
            name, kind = operation_labels(context.graphql_document, context._provided_operation_name)
            # a subscription's "duration" is its lifetime: not a request latency
            if kind != OperationType.SUBSCRIPTION.value:
                _histogram(name, kind).observe(time.perf_counter() - started)
