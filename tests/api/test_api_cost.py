"""The cost of an operation, estimated before it runs: `first` multiplied down every list path."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import Client, make_settings
from graphql import get_introspection_query, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from api import cost as cost_module
from api.cost import COST_LIMIT_EXCEEDED, WEIGHTS, Budget, CostModel
from api.relay import DEFAULT_PAGE_SIZE
from api.schema import build_schema
from murmur.platform import Platform

SCHEMA = build_schema(make_settings(Path("unused")))._schema
MODEL = CostModel(SCHEMA, Budget(max_cost=10_000, max_page_size=100))


def cost(query: str, **variables: object) -> int:
    return MODEL.cost(parse(query), None, variables)


def test_every_weight_names_a_field_of_the_schema() -> None:
    for type_name, field_name in WEIGHTS:
        assert field_name in SCHEMA.type_map[type_name].fields, (type_name, field_name)  # type: ignore[union-attr]


def test_the_readme_tour_is_cheap() -> None:
    query = (
        "{ timeline(first: 20) { edges { cursor node { id body createdAt author { username displayName } } }"
        " pageInfo { hasNextPage endCursor } } }"
    )
    # timeline 10 + 20 × (edges 1 + node 1 + author 1 + pageInfo 1)
    assert cost(query) == 10 + 20 * 4


def test_pages_multiply_down_list_paths() -> None:
    one = '{ user(username: "x") { followers(first: 100) { edges { node { id } } } } }'
    assert cost(one) == 1 + 5 + 100 * 2
    two = (
        '{ user(username: "x") { followers(first: 100) { edges { node { '
        "followers(first: 100) { edges { node { id } } } } } } } }"
    )
    assert cost(two) == 1 + 5 + 100 * (2 + 5 + 100 * 2)


def test_page_sizes_come_from_variables_defaults_and_the_limit() -> None:
    query = "query($n: Int) { viewer { posts(first: $n) { edges { node { id } } } } }"
    assert cost(query, n=7) == 1 + 3 + 7 * 2
    assert cost(query) == 1 + 3 + DEFAULT_PAGE_SIZE * 2  # no first: the resolver's default
    defaulted = "query($n: Int = 3) { viewer { posts(first: $n) { edges { node { id } } } } }"
    assert cost(defaulted) == 1 + 3 + 3 * 2
    assert cost(defaulted, n=4) == 1 + 3 + 4 * 2
    # timeline declares its own default (20); a page over the limit counts as the limit
    assert cost("{ timeline { edges { cursor } } }") == 10 + 20
    assert cost("{ timeline(first: 5000) { edges { cursor } } }") == 10 + 100
    assert cost("{ timeline(first: -5) { edges { cursor } } }") == 10
    # graphql-core takes 7.0 as 7; anything else that is not a page number prices as the
    # largest page, never as a default that execution would not use
    assert cost(query, n=7.0) == 1 + 3 + 7 * 2
    for odd in ("many", 7.5, True, float("inf"), [3]):
        assert cost(query, n=odd) == 1 + 3 + 100 * 2, odd
    assert cost(defaulted, n=70.0) == 1 + 3 + 70 * 2


def test_graphiqls_introspection_fits_the_budget_and_nested_introspection_does_not() -> None:
    introspection = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    assert 0 < cost(introspection) < MODEL.budget.max_cost
    assert cost("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }") > 10_000


def test_each_fragment_is_priced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    priced = 0
    original = cost_module._Pricing.selection_set

    def counting(self: cost_module._Pricing, *args: object) -> int:
        nonlocal priced
        priced += 1
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(cost_module._Pricing, "selection_set", counting)
    chain = " ".join(f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    total = cost(
        f'{{ user(username: "x") {{ ...F0 }} }} {chain} fragment F40 on User {{ following {{ pageInfo {{ hasNextPage }} }} }}'
    )
    assert total == 1 + 2**40 * (5 + DEFAULT_PAGE_SIZE)  # the arithmetic of 2^40 spreads
    assert priced == 1 + 1 + 41 + 2  # the operation, user { }, each fragment once, following's two sets


FIELDS = st.sampled_from(["id", "username", "followerCount"])


@st.composite
def selections(draw: st.DrawFn, depth: int = 2) -> str:
    """A random User selection: scalars and nested follower pages."""
    parts = draw(st.lists(FIELDS, min_size=1, max_size=3))
    if depth > 0:
        for _ in range(draw(st.integers(0, 2))):
            first = draw(st.integers(0, 150))
            inner = draw(selections(depth - 1))
            parts.append(
                f"f{draw(st.integers(0, 99))}: followers(first: {first}) {{ edges {{ node {{ {inner} }} }} }}"
            )
    return " ".join(parts)


@settings(max_examples=60, deadline=None)
@given(fragment=selections(), spreads=st.integers(1, 4), around=selections(1))
def test_a_fragment_costs_what_its_text_costs_inlined(fragment: str, spreads: int, around: str) -> None:
    with_spreads = (
        f"{{ viewer {{ {around} {' '.join(['...F'] * spreads)} }} }} fragment F on User {{ {fragment} }}"
    )
    inlined = f"{{ viewer {{ {around} {' '.join([f'... on User {{ {fragment} }}'] * spreads)} }} }}"
    assert cost(with_spreads) == cost(inlined)


async def test_the_api_refuses_an_operation_over_the_budget(client: Client, platform: Platform) -> None:
    three = "followers(first: 100) { edges { node { id } } }"
    for _ in range(2):
        three = f"followers(first: 100) {{ edges {{ node {{ {three} }} }} }}"
    # five copies: twenty, as the pentest sent, are now over the token limit as well
    attack = "{ " + " ".join(f'a{i}: user(username: "x") {{ {three} }}' for i in range(5)) + " }"
    result = await client.execute(attack)
    assert result.data is None and result.errors is not None
    (error,) = result.errors
    expected = 5 * (1 + 5 + 100 * (2 + 5 + 100 * (2 + 5 + 100 * 2)))
    assert error.extensions == {"code": COST_LIMIT_EXCEEDED, "cost": expected, "budget": 10_000}, (
        error.message
    )
    assert f"may cost {expected}, over the budget of 10000" in error.message


async def test_variables_decide_the_cost_of_the_same_text(client: Client) -> None:
    """The estimate is cached by text and page sizes together: the same text with a larger
    page is priced again."""
    query = (
        "query($n: Int = 0) { viewer { followers(first: $n) { edges { node { "
        "followers(first: $n) { edges { node { followers(first: $n) { edges { node { id } } } } } } } } } } }"
    )
    token, _ = await client.register("pricey")
    assert (await client.execute(query, token, n=5)).errors is None
    for large in (100, 100.0):  # a float is an Int to graphql-core: priced as one
        refused = await client.execute(query, token, n=large)
        assert refused.errors is not None and refused.errors[0].extensions["code"] == COST_LIMIT_EXCEEDED  # type: ignore[index]
    assert (await client.execute(query, token, n=5)).errors is None
