"""Relay connections: the generic Connection/Edge types, opaque cursors and page sizes.

`Connection[Post]` is named PostConnection by Strawberry, `Connection[User]`
UserConnection, in every subgraph; they are value types, hence @shareable.

A cursor is base64url of a small JSON array `["v1", kind, *parts]`: the version
lets the format change without breaking clients that hold old cursors, the kind
stops a cursor of one list from being replayed on another.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Generic, TypeVar

import orjson
import strawberry

from api.errors import bad_request

N = TypeVar("N")

_VERSION = "v1"
DEFAULT_PAGE_SIZE = 20


@strawberry.federation.type(shareable=True)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.federation.type(shareable=True)
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.federation.type(shareable=True)
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo


def connection(edges: Iterable[tuple[str, N]], *, has_next: bool, has_previous: bool) -> Connection[N]:
    """Build a connection from (cursor, node) pairs."""
    built = [Edge(cursor=cursor, node=node) for cursor, node in edges]
    return Connection(
        edges=built,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=built[0].cursor if built else None,
            end_cursor=built[-1].cursor if built else None,
        ),
    )


def encode_cursor(kind: str, *parts: str | int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([_VERSION, kind, *parts])).decode()


def decode_cursor(cursor: str, kind: str, *types: type[str] | type[int]) -> list[str | int]:
    """The parts of a cursor of this kind, checked against `types`; a clean error otherwise."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        decoded = None
    if (
        isinstance(decoded, list)
        and len(decoded) == len(types) + 2
        and decoded[:2] == [_VERSION, kind]
        # bool is an int subclass: a cursor never holds one
        and all(type(part) is expected for part, expected in zip(decoded[2:], types, strict=True))
    ):
        return decoded[2:]
    raise bad_request("Invalid cursor: pass a cursor this list returned.")


def page_size(first: int | None, *, maximum: int) -> int:
    """`first` checked against the configured maximum; null means the default page."""
    if first is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    if not 0 <= first <= maximum:
        raise bad_request(f"`first` must be between 0 and {maximum}.")
    return first
