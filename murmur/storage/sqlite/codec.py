"""Conversions at the SQLite boundary: decimal-string ids to INTEGER, datetimes to ms, id lists to JSON.

Id lists travel as one JSON parameter read with json_each(), so a statement
takes any number of ids without chunking under SQLite's host-parameter limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import orjson

from murmur.domain import InvalidInput, PermanentStoreError

_MAX_DIGITS = 18  # any 18-digit number fits a signed 64-bit INTEGER
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def parse_id(value: str) -> int | None:
    """The integer a canonical decimal id stands for; None for anything else ("01", "1_0", "-1")."""
    if not (0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit()):
        return None
    if value[0] == "0" and len(value) > 1:
        return None
    return int(value)


def known_ids(values: Iterable[str]) -> list[int]:
    """The well-formed ids among values (a malformed one cannot name a stored row)."""
    return [n for n in map(parse_id, values) if n is not None]


def require_id(value: str) -> int:
    """An id the caller vouches for (it names the row being written)."""
    n = parse_id(value)
    if n is None:
        raise PermanentStoreError(f"malformed id {value!r}")
    return n


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
