"""Message sizes, so a batch of UNWIND rows fits in one query the server accepts.

Neptune refuses large Bolt messages. FalkorDB, the local stand-in, crashes on a query
whose parameters, written out as Cypher text in front of it ("CYPHER rows=[[1, 2], ...]
UNWIND ..."), pass ~4100 characters: a list of large integers overflows it at about half
that many Bolt bytes. So a query's size here is the larger of its Bolt RUN message and
that text, and list parameters are cut into batches by exact sizes, not row counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

from murmur.domain import PermanentStoreError

T = TypeVar("T")

# RUN's third field, the extra map: {} here (sessions carry no bookmarks, database, mode or
# metadata); room for a few such fields all the same.
EXTRA_MAP_RESERVE = 32
_RUN_HEADER = 2  # struct marker and signature
_TEXT_PREFIX = len("CYPHER ")
_SEPARATOR = len(", ")
_FLOAT_TEXT = 32


def _sized_header(n: int, *, tiny: bool) -> int:
    """Bytes of the marker (and length) before n items/bytes of a string, list or map."""
    if tiny and n < 0x10:
        return 1
    if n < 0x100:
        return 2
    if n < 0x10000:
        return 3
    return 5


def packed_size(value: object) -> int:
    """Bytes PackStream encodes value in (the types query parameters here use)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int):
        if -0x10 <= value < 0x80:
            return 1
        for size, bound in ((2, 0x80), (3, 0x8000), (5, 0x8000_0000), (9, 0x8000_0000_0000_0000)):
            if -bound <= value < bound:
                return size
        raise OverflowError(f"{value} does not fit in 64 bits")
    if isinstance(value, float):
        return 9
    if isinstance(value, str):
        n = len(value.encode())
        return _sized_header(n, tiny=True) + n
    if isinstance(value, bytes | bytearray):
        return _sized_header(len(value), tiny=False) + len(value)
    if isinstance(value, list | tuple):
        return _sized_header(len(value), tiny=True) + sum(map(packed_size, value))
    if isinstance(value, Mapping):
        return _sized_header(len(value), tiny=True) + sum(
            packed_size(str(k)) + packed_size(v) for k, v in value.items()
        )
    raise TypeError(f"no PackStream size for {type(value).__name__}")


def _joined(sizes: list[int]) -> int:
    """Characters of items written one after another with ", " between them."""
    return sum(sizes) + _SEPARATOR * max(len(sizes) - 1, 0)


def literal_size(value: object) -> int:
    """Characters of value as a Cypher literal, or a little more: text counts its UTF-8
    bytes, and quotes and backslashes twice in case they are escaped."""
    if value is None:
        return len("null")
    if isinstance(value, bool):
        return len("true" if value else "false")
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, float):
        return _FLOAT_TEXT  # however it is printed
    if isinstance(value, str):
        escapable = sum(value.count(c) for c in "'\"\\")
        return 2 + len(value.encode()) + escapable
    if isinstance(value, list | tuple):
        return 2 + _joined([literal_size(v) for v in value])
    if isinstance(value, Mapping):
        return 2 + _joined([len(str(k)) + 2 + literal_size(v) for k, v in value.items()])
    raise TypeError(f"no Cypher literal for {type(value).__name__}")


def _bolt_size(query: str, parameters: Mapping[str, object]) -> int:
    return _RUN_HEADER + packed_size(query) + packed_size(parameters) + EXTRA_MAP_RESERVE


def _text_size(query: str, parameters: Mapping[str, object]) -> int:
    written = sum(len(k) + 1 + literal_size(v) + 1 for k, v in parameters.items())  # "name=value "
    return _TEXT_PREFIX + written + len(query.encode())


def message_size(query: str, parameters: Mapping[str, object]) -> int:
    """What a query costs against the message limit: the larger of its Bolt RUN message
    (extra map reserve included) and its parameters and text as one Cypher string."""
    return max(_bolt_size(query, parameters), _text_size(query, parameters))


def batches(
    rows: Iterable[T], *, query: str, name: str, fixed: Mapping[str, object], max_bytes: int
) -> Iterator[list[T]]:
    """Consecutive runs of rows, each as long as fits: query with parameters
    {name: batch, **fixed} has a message_size of at most max_bytes."""
    empty = {**fixed, name: []}
    bolt_empty, text_empty = _bolt_size(query, empty), _text_size(query, empty)

    def size(n: int, packed: int, literal: int) -> int:
        # n rows replace the empty list's 1-byte header and fill its "[]", with separators
        bolt = bolt_empty - 1 + _sized_header(n, tiny=True) + packed
        return max(bolt, text_empty + literal + _SEPARATOR * (n - 1))

    batch: list[T] = []
    packed = literal = 0
    for row in rows:
        row_packed, row_literal = packed_size(row), literal_size(row)
        if batch and size(len(batch) + 1, packed + row_packed, literal + row_literal) > max_bytes:
            yield batch
            batch, packed, literal = [], 0, 0
        if not batch and size(1, row_packed, row_literal) > max_bytes:
            raise PermanentStoreError(
                f"one row of {row_packed} bytes does not fit a {max_bytes}-byte message"
            )
        batch.append(row)
        packed += row_packed
        literal += row_literal
    if batch:
        yield batch
