"""Domain ids as the integers every backend stores them as.

Ids are canonical decimal strings of at most 18 digits, so each fits a signed
64-bit integer (SQLite INTEGER, BSON int64, Cypher integer) and sorts numerically.
"""

from __future__ import annotations

from collections.abc import Iterable

from murmur.domain import PermanentStoreError

_MAX_DIGITS = 18


def parse_id(value: str) -> int | None:
    """The integer a canonical decimal id stands for; None for anything else ("01", "1_0", "-1")."""
    if not (0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit()):
        return None
    if value[0] == "0" and len(value) > 1:
        return None
    return int(value)


def known_ids(values: Iterable[str]) -> list[int]:
    """The well-formed ids among values (a malformed one cannot name a stored record)."""
    return [n for n in map(parse_id, values) if n is not None]


def require_id(value: str) -> int:
    """An id the caller vouches for (it names the record being written)."""
    n = parse_id(value)
    if n is None:
        raise PermanentStoreError(f"malformed id {value!r}")
    return n
