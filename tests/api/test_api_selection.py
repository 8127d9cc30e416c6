"""selects(): what a query asks for below a field, through fragments and aliases."""

from __future__ import annotations

import pytest
import strawberry

from api.context import Info
from api.selection import selects


@strawberry.type
class Author:
    name: str = "a"


@strawberry.type
class Node:
    author: Author = strawberry.field(default_factory=Author)
    body: str = "b"


@strawberry.type
class Edge:
    node: Node = strawberry.field(default_factory=Node)


@strawberry.type
class Page:
    edges: list[Edge] = strawberry.field(default_factory=lambda: [Edge()])
    shows_author: bool = False


@strawberry.type
class Query:
    @strawberry.field
    def page(self, info: Info) -> Page:
        return Page(shows_author=selects(info, "edges", "node", "author"))


SCHEMA = strawberry.Schema(query=Query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ page { shows_author: showsAuthor edges { node { author { name } } } } }", True),
        ("{ page { shows_author: showsAuthor edges { node { body } } } }", False),
        ("{ page { shows_author: showsAuthor edges { n: node { a: author { name } } } } }", True),
        ("{ page { shows_author: showsAuthor ... on Page { edges { node { author { name } } } } } }", True),
        ("{ page { shows_author: showsAuthor ...P } } fragment P on Page { edges { node { ...N } } } "
         "fragment N on Node { author { name } }", True),
        ("{ page { shows_author: showsAuthor author: edges { node { body } } } }", False),
    ],
)  # fmt: skip
def test_selects(query: str, expected: bool) -> None:
    result = SCHEMA.execute_sync(query)
    assert result.errors is None
    assert result.data is not None
    assert result.data["page"]["shows_author"] is expected
