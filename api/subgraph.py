"""A domain's slice of the API, servable on its own as an Apollo Federation v2 subgraph."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from api.errors import HANDLERS


@dataclass(frozen=True)
class Subgraph:
    name: str
    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    # entity slices the root types do not reach (so `_entities` can resolve them)
    types: tuple[type, ...] = ()

    def schema(self, *, extensions: Iterable[type[SchemaExtension]] = ()) -> strawberry.federation.Schema:
        kwargs: dict[str, Any] = {}  # federation.Schema wants omitted roots, not None
        if self.mutation is not None:
            kwargs["mutation"] = self.mutation
        if self.subscription is not None:
            kwargs["subscription"] = self.subscription
        return strawberry.federation.Schema(
            query=self.query,
            types=self.types,
            extensions=list(extensions),
            exception_handlers=HANDLERS,
            **kwargs,
        )
