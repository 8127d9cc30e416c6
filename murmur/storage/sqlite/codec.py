"""Conversions at the SQLite boundary: decimal-string ids to INTEGER, datetimes to ms, id lists to JSON.

Id lists travel as one JSON parameter read with json_each(), so a statement
takes any number of ids without chunking under SQLite's host-parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import orjson

from murmur.domain import InvalidInput
from murmur.storage.ids import parse_id

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


_ABOVE_EVERY_ID = 1 << 62


def cursor_bound(value: str | None, field: str) -> int:
    """The exclusive upper bound a paging cursor sets (it may come from a client: malformed
    is invalid input); above every id when there is no cursor."""
    if value is None:
        return _ABOVE_EVERY_ID
    n = parse_id(value)
    if n is None:
        raise InvalidInput("Invalid cursor.", field=field)
    return n


def json_array(values: Iterable[object]) -> str:
    """A JSON array for json_each(); tuples become nested arrays."""
    return orjson.dumps(list(values)).decode()


def to_ms(at: datetime) -> int:
    """Milliseconds since the Unix epoch, truncated like every other store (BSON dates are ms too).

    Integer arithmetic, so a value read back converts to the same number again."""
    return ((at if at.tzinfo else at.replace(tzinfo=UTC)) - _UNIX_EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return _UNIX_EPOCH + ms * _MS
