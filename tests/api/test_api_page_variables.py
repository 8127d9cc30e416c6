"""Pricing reads the page sizes a request's variables give (issue 18): each variable as the
page the execution will serve, the operation the request names, and one cached price for
the same text and pages whatever the order the variables arrive in."""

from __future__ import annotations

from api_helpers import Client
from cache_helpers import document_cache

from api.cost import COST_LIMIT_EXCEEDED
from api.relay import DEFAULT_PAGE_SIZE

# three nested pages of followers, each `first: $n` (0 when the variable is not sent)
NESTED = (
    "query($n: Int = 0) { viewer { followers(first: $n) { edges { node { "
    "followers(first: $n) { edges { node { followers(first: $n) { edges { node { id } } } } } } } } } } }"
)
BUDGET = 10_000


def _cost_at(page: int) -> int:
    """NESTED's price at `page` items per level: viewer 1, followers 5 a page, 2 an item."""
    return 1 + 5 + page * (2 + 5 + page * (2 + 5 + page * 2))


async def test_a_null_page_variable_is_priced_as_the_default_page_it_runs_as(client: Client) -> None:
    """An explicit null replaces the variable's default (GraphQL's CoerceVariableValues), and
    `first: null` serves the default page (api/relay.py page_size). Priced as the variable's
    default instead (`= 0` here), three nested pages of 20 (8,000 users) passed for the price
    of none: the null must cost what the default page costs."""
    token, _ = await client.register("nullish")
    assert _cost_at(DEFAULT_PAGE_SIZE) > BUDGET >= _cost_at(0)
    assert (await client.execute(NESTED, token)).errors is None  # not sent: the default, 0
    for sent in ({"n": None}, {"n": DEFAULT_PAGE_SIZE}):
        refused = await client.execute(NESTED, token, **sent)
        assert refused.data is None and refused.errors is not None, sent
        assert refused.errors[0].extensions == {
            "code": COST_LIMIT_EXCEEDED,
            "cost": _cost_at(DEFAULT_PAGE_SIZE),
            "budget": BUDGET,
        }, sent


async def test_a_text_variable_before_a_page_does_not_hide_the_page(client: Client) -> None:
    """Text never coerces to Int, so a text variable is left out of pricing; the variables
    after it are still read."""
    query = NESTED.replace(
        "query($n: Int = 0) { viewer {", "query($who: String!, $n: Int = 0) { user(username: $who) {"
    )
    token, _ = await client.register("texty")
    assert (await client.execute(query, token, who="texty", n=2)).errors is None
    refused = await client.execute(query, token, who="texty", n=DEFAULT_PAGE_SIZE)
    assert refused.errors is not None
    assert refused.errors[0].extensions == {
        "code": COST_LIMIT_EXCEEDED,
        "cost": _cost_at(DEFAULT_PAGE_SIZE),
        "budget": BUDGET,
    }


async def test_the_operation_named_is_the_one_priced(client: Client) -> None:
    """A document of two operations: each request is priced for the one it runs."""
    expensive = NESTED.replace("query(", "query Expensive(")
    document = f"query Cheap {{ viewer {{ id }} }} {expensive}"
    token, user_id = await client.register("chooser")
    context = client.context(token)
    cheap = await client.schema.execute(document, operation_name="Cheap", context_value=context)
    assert cheap.errors is None and cheap.data == {"viewer": {"id": user_id}}
    refused = await client.schema.execute(
        document,
        operation_name="Expensive",
        variable_values={"n": DEFAULT_PAGE_SIZE},
        context_value=client.context(token),
    )
    assert refused.errors is not None
    assert refused.errors[0].extensions == {
        "code": COST_LIMIT_EXCEEDED,
        "cost": _cost_at(DEFAULT_PAGE_SIZE),
        "budget": BUDGET,
    }


async def test_the_same_pages_in_another_order_are_priced_once(client: Client) -> None:
    """The price is cached by text and page sizes: the order the client wrote its variables
    in is not part of the key (two variables with the same page, so neither name nor value
    order can stand in for the other)."""
    query = (
        "query($a: Int, $b: Int) { viewer { followers(first: $a) { edges { cursor } } "
        "following(first: $b) { edges { cursor } } } }"
    )
    token, _ = await client.register("orderly")
    cache = document_cache(client.schema)
    cache.clear()
    for variables in ({"a": 3, "b": 3}, {"b": 3, "a": 3}, {"a": 3, "b": 3}):
        result = await client.schema.execute(
            query, variable_values=variables, context_value=client.context(token)
        )
        assert result.errors is None, result.errors
    info = cache.price.cache_info()
    assert (info.misses, info.hits) == (1, 2)


async def test_one_cost_model_serves_a_schema(client: Client) -> None:
    """Building a cost model walks the schema: it is built once and reused for every price."""
    cache = document_cache(client.schema)
    schema = client.schema._schema
    first = cache.cost_model(schema)
    assert first.schema is schema
    assert cache.cost_model(schema) is first
