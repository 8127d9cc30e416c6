"""The document's shape, checked first and in linear time: fragments, depth, aliases, nesting,
repeated fields, expanded size and one login per document."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Client
from graphql import parse

from api import document_limits
from api.document_limits import MAX_EXPANDED_FIELDS, MAX_REPEATED_FIELD, ShapeLimits, shape_errors

LIMITS = ShapeLimits(max_depth=12, max_aliases=20, max_fragments=32, max_fragment_spreads=64)


def errors(query: str, limits: ShapeLimits = LIMITS) -> list[str]:
    return [e.message for e in shape_errors(parse(query), limits)]


def bomb(fragments: int) -> str:
    """The pentest's document: each fragment spreads the next one twice."""
    chain = " ".join(f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(fragments))
    return f'query {{ user(username: "demo") {{ ...F0 }} }} {chain} fragment F{fragments} on User {{ id }}'


def test_the_fragment_bomb_is_refused_for_what_it_expands_to() -> None:
    assert errors(bomb(21)) == [
        f"'anonymous' selects {2**21 + 1} fields once its fragments are expanded. Allowed: {MAX_EXPANDED_FIELDS}"
    ]
    assert errors(bomb(5)) == []  # 33 fields: a document, not a bomb


def test_each_fragment_is_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear, not exponential: a 60-fragment bomb walks each selection set once."""
    walked = 0
    original = document_limits._Measurer.selection_set

    def counting(self: document_limits._Measurer, selection_set: object) -> object:
        nonlocal walked
        walked += 1
        return original(self, selection_set)  # type: ignore[arg-type]

    monkeypatch.setattr(document_limits._Measurer, "selection_set", counting)
    limits = ShapeLimits(max_depth=12, max_aliases=20, max_fragments=100, max_fragment_spreads=200)
    assert errors(bomb(60), limits)[0].startswith("'anonymous' selects")
    assert walked == 1 + 1 + 61  # the operation, user { }, and each fragment once


def test_fragment_definitions_and_spreads_are_capped() -> None:
    many = " ".join(f"fragment F{i} on User {{ id }}" for i in range(33))
    assert errors(f"{{ viewer {{ ...F0 }} }} {many}") == ["33 fragments found. Allowed: 32"]
    spreads = " ".join("...F" for _ in range(65))
    assert errors(f"{{ viewer {{ {spreads} }} }} fragment F on User {{ id }}") == [
        "65 fragment spreads found. Allowed: 64"
    ]


def nested(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"following {{ edges {{ node {{ {inner} }} }} }}"
    return f"{{ viewer {{ {inner} }} }}"


def test_depth_counts_fields_through_fragments_but_not_introspection() -> None:
    assert errors(nested(3)) == []  # depth 10
    assert errors(nested(4)) == ["'anonymous' exceeds maximum operation depth of 12"]
    through = "query Deep { viewer { ...A } } fragment A on User { following { edges { node { ...B } } } }"
    inner = "id"
    for _ in range(3):
        inner = f"following {{ edges {{ node {{ {inner} }} }} }}"
    through += f" fragment B on User {{ {inner} }}"
    assert errors(through) == ["'Deep' exceeds maximum operation depth of 12"]
    introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }"
    assert errors(introspection) == []


def test_aliases_count_as_executed_through_every_spread() -> None:
    fragment = "fragment A on User { " + " ".join(f"a{i}: id" for i in range(11)) + " }"
    assert errors(f"{{ viewer {{ ...A }} }} {fragment}") == []
    assert errors(f"{{ viewer {{ ...A x: following {{ edges {{ node {{ ...A }} }} }} }} }} {fragment}") == [
        "23 aliases found. Allowed: 20"
    ]


def test_nesting_counts_inline_fragments() -> None:
    deep = "{ viewer { " + "... on User { " * 22 + "id" + " }" * 22 + " } }"
    assert errors(deep) == []  # 24 levels as written: viewer, its set, 22 inline fragments
    deeper = "{ viewer { " + "... on User { " * 23 + "id" + " }" * 23 + " } }"
    assert errors(deeper) == ["Selections nested 25 deep. Allowed: 24"]


def test_a_response_name_is_selected_a_bounded_number_of_times() -> None:
    allowed = " ".join("id" for _ in range(MAX_REPEATED_FIELD))
    assert errors(f"{{ viewer {{ {allowed} }} }}") == []
    # inline fragments join their selection set: graphql-core compares them all pairwise
    over = " ".join("... on User { id }" for _ in range(MAX_REPEATED_FIELD + 1))
    assert errors(f"{{ viewer {{ {over} }} }}") == [
        f"Field 'id' is selected {MAX_REPEATED_FIELD + 1} times in one selection set. Allowed: {MAX_REPEATED_FIELD}"
    ]


@pytest.mark.parametrize(
    "mutation",
    [
        'mutation { a: login(username: "a", password: "p") { __typename } '
        'b: login(username: "a", password: "q") { __typename } }',
        'mutation { login(username: "a", password: "p") { __typename } '
        'register(username: "b", password: "q") { __typename } }',
        'mutation { ...L ...L } fragment L on Mutation { login(username: "a", password: "p") { __typename } }',
        'mutation { ... on Mutation { login(username: "a", password: "p") { __typename } } ...L } '
        'fragment L on Mutation { register(username: "a", password: "p") { __typename } }',
    ],
    ids=["aliased", "login-and-register", "fragment-twice", "inline-and-fragment"],
)
def test_one_login_or_register_per_document(mutation: str) -> None:
    assert errors(mutation) == [document_limits.ONE_AUTH_FIELD]


def test_a_single_login_passes() -> None:
    assert errors('mutation { login(username: "a", password: "p") { __typename } }') == []
    # a fragment cycle is graphql-core's to report, with its own message
    assert errors("{ viewer { ...A } } fragment A on User { ...A }") == []


async def test_the_api_refuses_a_bomb_before_graphql_core_sees_it(client: Client, tmp_path: Path) -> None:
    result = await client.execute(bomb(21))
    assert result.errors is not None and result.data is None
    assert "once its fragments are expanded" in result.errors[0].message
    two = await client.execute(
        'mutation { a: login(username: "x", password: "y") { __typename } '
        'b: login(username: "x", password: "z") { __typename } }'
    )
    assert two.errors is not None and two.errors[0].message == document_limits.ONE_AUTH_FIELD


# --- issue 18: each limit's edge, and what the measures count ---

SMALL = ShapeLimits(max_depth=3, max_aliases=2, max_fragments=32, max_fragment_spreads=64)


def test_each_count_may_reach_its_limit() -> None:
    """At a limit a document passes; one more is refused (the refusals are above)."""
    many = " ".join(f"fragment F{i} on User {{ id }}" for i in range(32))
    assert errors(f"{{ viewer {{ ...F0 }} }} {many}") == []
    spreads = " ".join("...F" for _ in range(64))
    assert errors(f"{{ viewer {{ {spreads} }} }} fragment F on User {{ id }}") == []


def _ten_thousand_fields() -> str:
    """Fragments that expand to exactly MAX_EXPANDED_FIELDS fields (10^4), flat sets of
    ten different fields at the bottom."""
    assert MAX_EXPANDED_FIELDS == 10**4
    leaves = " ".join(f"a{i}" for i in range(10))
    fragments = f"fragment F0 on User {{ {leaves} }} " + " ".join(
        f"fragment F{level} on User {{ {' '.join([f'...F{level - 1}'] * 10)} }}" for level in (1, 2)
    )
    return f"{' '.join(['...F2'] * 10)} }} {fragments}"


def test_expanded_fields_may_reach_the_limit_and_no_further() -> None:
    assert errors("{ " + _ten_thousand_fields()) == []
    assert errors("{ extra " + _ten_thousand_fields()) == [
        f"'anonymous' selects {MAX_EXPANDED_FIELDS + 1} fields once its fragments are expanded. "
        f"Allowed: {MAX_EXPANDED_FIELDS}"
    ]


def test_an_unknown_fragment_counts_for_nothing() -> None:
    """Its spread is graphql-core's to report (KnownFragmentNames): here it adds no depth,
    alias or field, so a document at every limit still passes with one."""
    assert errors("{ a: x { b: y { z { ...Missing } } } }", SMALL) == []  # depth 3, 2 aliases
    assert errors("{ ...Missing " + _ten_thousand_fields()) == []


async def test_the_api_names_an_unknown_fragment(client: Client) -> None:
    result = await client.execute("{ viewer { id ...Missing } }")
    assert result.data is None and result.errors is not None
    assert [error.message for error in result.errors] == ["Unknown fragment 'Missing'."]


def test_fragments_written_before_the_operation_do_not_hide_it() -> None:
    assert errors(f"fragment F on User {{ id }} query Deep {nested(4)}") == [
        "'Deep' exceeds maximum operation depth of 12"
    ]
    assert errors(f"fragment F on User {{ id }} {nested(4)}") == [
        "'anonymous' exceeds maximum operation depth of 12"
    ]


def test_introspection_adds_no_depth_at_the_limit() -> None:
    """Six levels under __schema: at a limit of six (with __schema counted, seven: refused)."""
    introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }"
    assert (
        errors(
            introspection, ShapeLimits(max_depth=6, max_aliases=2, max_fragments=1, max_fragment_spreads=1)
        )
        == []
    )


def test_nesting_counts_fields_inside_inline_fragments() -> None:
    """A field three inline fragments deep nests its own selections deeper still: f's set
    is the sixth level as written, e's the seventh (the limit: twice the depth, 6)."""
    assert errors("{ v { ... on U { ... on U { ... on U { f { e { c } } } } } } }", SMALL) == [
        "Selections nested 7 deep. Allowed: 6"
    ]
    assert errors("{ v { ... on U { ... on U { f { e { c } } } } } }", SMALL) == []
