"""Cursor encoding and page sizes, on their own."""

from __future__ import annotations

import base64

import pytest
from graphql import GraphQLError

from api.relay import connection, decode_cursor, encode_cursor, page_size


def test_cursor_round_trip() -> None:
    cursor = encode_cursor("timeline", "12345", 7)
    assert decode_cursor(cursor, "timeline", str, int) == ["12345", 7]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"v": 1}').decode(),
        encode_cursor("posts", "12345", 7),  # another list's cursor
        base64.urlsafe_b64encode(b'["v0", "timeline", "1", 2]').decode(),  # another version
        encode_cursor("timeline", "12345", "7"),  # wrong part type
        base64.urlsafe_b64encode(b'["v1", "timeline", "1", true]').decode(),  # bool is no int
        encode_cursor("timeline", "12345"),  # too few parts
    ],
)
def test_bad_cursors_are_clean_errors(cursor: str) -> None:
    with pytest.raises(GraphQLError, match="Invalid cursor"):
        decode_cursor(cursor, "timeline", str, int)


def test_page_size() -> None:
    assert page_size(None, maximum=100) == 20
    assert page_size(None, maximum=5) == 5
    assert page_size(0, maximum=5) == 0
    assert page_size(5, maximum=5) == 5
    for bad in (-1, 6):
        with pytest.raises(GraphQLError):
            page_size(bad, maximum=5)


def test_connection_page_info() -> None:
    built = connection([("c1", "a"), ("c2", "b")], has_next=True, has_previous=False)
    assert [edge.node for edge in built.edges] == ["a", "b"]
    info = built.page_info
    assert (info.start_cursor, info.end_cursor, info.has_next_page, info.has_previous_page) == (
        "c1",
        "c2",
        True,
        False,
    )
    empty = connection([], has_next=False, has_previous=True)
    assert (empty.page_info.start_cursor, empty.page_info.end_cursor) == (None, None)
