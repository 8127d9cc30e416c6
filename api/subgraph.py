"""A domain's slice of the API, servable on its own as an Apollo Federation v2 subgraph."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

from api.errors import HANDLERS


@dataclass(frozen=True)
class Subgraph:
    name: str
    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    # entity slices the root types do not reach (so `_entities` can resolve them)
    types: tuple[type, ...] = ()

    def schema(self) -> strawberry.federation.Schema:
        return strawberry.federation.Schema(
            query=self.query,
            mutation=self.mutation,
            subscription=self.subscription,
            types=self.types,
            exception_handlers=HANDLERS,
        )
