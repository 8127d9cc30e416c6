"""Bolt message sizes, so a batch of UNWIND rows fits in one message the server accepts.

Neptune refuses large Bolt messages, and FalkorDB (the local stand-in) crashes on any
over ~4 KiB, so every list parameter is split by the exact PackStream size of the RUN
message that carries it, not by a guessed row count.
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


def run_message_size(query: str, parameters: Mapping[str, object]) -> int:
    """Bytes of the RUN message sending query with parameters, extra map reserve included."""
    return _RUN_HEADER + packed_size(query) + packed_size(parameters) + EXTRA_MAP_RESERVE


def batches(
    rows: Iterable[T], *, query: str, name: str, fixed: Mapping[str, object], max_bytes: int
) -> Iterator[list[T]]:
    """Consecutive runs of rows, each as long as fits: the RUN message of query with
    parameters {name: batch, **fixed} is at most max_bytes."""
    empty = run_message_size(query, {**fixed, name: []})
    batch: list[T] = []
    rows_bytes = 0  # the list's items, without its header
    for row in rows:
        size = packed_size(row)
        if batch and empty - 1 + _sized_header(len(batch) + 1, tiny=True) + rows_bytes + size > max_bytes:
            yield batch
            batch, rows_bytes = [], 0
        if not batch and empty - 1 + _sized_header(1, tiny=True) + size > max_bytes:
            raise PermanentStoreError(f"one row of {size} bytes does not fit a {max_bytes}-byte Bolt message")
        batch.append(row)
        rows_bytes += size
    if batch:
        yield batch
