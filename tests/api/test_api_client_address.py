"""The client address behind trusted proxies (api/client_address.py): the entry N places
from the right of X-Forwarded-For, never one the client wrote itself (issue 16, finding 5)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, cast

import pytest
from api_helpers import make_settings, running_app
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from api.app import create_app
from api.client_address import ClientAddress, entries, parse_address, parse_scheme, pick

PEER = ("10.0.0.99", 41000)  # the socket peer: the proxy nearest to the API


async def _seen(trusted_proxies: int, headers: list[tuple[str, str]], kind: str = "http") -> Scope:
    """The scope the app behind the middleware sees."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    scope: dict[str, Any] = {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": PEER,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
    }
    await ClientAddress(app, trusted_proxies=trusted_proxies)(scope, receive, send)
    return seen[0]


def _client(trusted_proxies: int, *forwarded_for: str) -> str:
    found = pick(entries(forwarded_for), trusted_proxies, parse_address)
    return found if found is not None else "peer"


@pytest.mark.parametrize(
    ("trusted", "headers", "client"),
    [
        # one ALB: it appended the peer it saw, the last entry; the rest is the client's
        (1, ["203.0.113.7"], "203.0.113.7"),
        (1, ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),
        (1, ["198.51.100.1,198.51.100.2,  203.0.113.7 "], "203.0.113.7"),
        # two proxies: the second appended the first's address; the client is second from the right
        (2, ["198.51.100.1, 203.0.113.7, 10.0.0.5"], "203.0.113.7"),
        (2, ["203.0.113.7, 10.0.0.5"], "203.0.113.7"),
        # fewer entries than proxies: all written by proxies, the first is the client
        (2, ["203.0.113.7"], "203.0.113.7"),
        (3, ["203.0.113.7, 10.0.0.5"], "203.0.113.7"),
        # several headers are one list, in order
        (1, ["198.51.100.1", "203.0.113.7"], "203.0.113.7"),
        (2, ["198.51.100.1, 203.0.113.7", "10.0.0.5"], "203.0.113.7"),
        (1, ["203.0.113.7", ""], "peer"),  # an empty last header: an empty entry, not taken
        # not an address: keeps its place, is never taken; the nearest address to its right is
        (1, ["198.51.100.1, unknown"], "peer"),
        (1, ["198.51.100.1, "], "peer"),
        (1, ["198.51.100.1,,"], "peer"),
        (2, ["198.51.100.1, unknown, 10.0.0.5"], "10.0.0.5"),
        (2, ["198.51.100.1, , 10.0.0.5"], "10.0.0.5"),
        (2, ["198.51.100.1, evil.example, garbage"], "peer"),
        (2, ["unknown"], "peer"),
        (1, ["198.51.100.1, 203.0.113.7 10.0.0.5"], "peer"),
        (1, ["198.51.100.1, 999.0.113.7"], "peer"),
        (1, ["198.51.100.1, 010.0.113.7"], "peer"),  # octal-looking: refused, not guessed
        # ports, IPv6, brackets, IPv4-mapped IPv6: the canonical address
        (1, ["203.0.113.7:4431"], "203.0.113.7"),
        (1, ["203.0.113.7:"], "peer"),
        (1, ["203.0.113.7:https"], "peer"),
        (1, ["2001:DB8::0:1"], "2001:db8::1"),
        (1, ["[2001:db8::1]"], "2001:db8::1"),
        (1, ["[2001:db8::1]:443"], "2001:db8::1"),
        (1, ["[2001:db8::1]x"], "peer"),
        (1, ["[2001:db8::1"], "peer"),
        (1, ["::ffff:203.0.113.7"], "203.0.113.7"),
        # no proxies trusted: nothing is taken, whatever the header says
        (0, ["203.0.113.7"], "peer"),
        (0, ["198.51.100.1, 203.0.113.7"], "peer"),
        # no header
        (1, [], "peer"),
    ],
)
def test_the_client_is_n_places_from_the_right(trusted: int, headers: list[str], client: str) -> None:
    assert _client(trusted, *headers) == client


@pytest.mark.parametrize(
    ("trusted", "headers", "scheme"),
    [
        (1, ["https"], "https"),
        (1, ["HTTPS"], "https"),
        (1, ["https, http"], "http"),  # the proxy's word is the last one
        (2, ["http, https, http"], "https"),
        (2, ["https"], "https"),
        (1, ["http, ftp"], None),
        (1, [""], None),
        (0, ["https"], None),
    ],
)
def test_the_scheme_follows_the_same_rule(trusted: int, headers: list[str], scheme: str | None) -> None:
    assert pick(entries(headers), trusted, parse_scheme) == scheme


# --- properties -------------------------------------------------------------------------


def _not_ipv4_mapped(text: str) -> bool:
    address = ipaddress.ip_address(text)
    return not isinstance(address, ipaddress.IPv6Address) or address.ipv4_mapped is None


# addresses as a proxy writes them (::ffff:192.0.2.1 is taken as 192.0.2.1: a table case)
addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str).filter(_not_ipv4_mapped))
# whatever a client may write into one entry (no comma: a comma starts another entry)
junk = st.one_of(
    addresses,
    st.sampled_from(["", "unknown", "localhost", "_hidden", "1.2.3", "[::1", "::ffff:"]),
    st.text(st.characters(codec="latin-1", exclude_characters=","), max_size=12),
)


@given(st.lists(junk, max_size=8), st.integers(min_value=0, max_value=10))
def test_never_an_entry_left_of_the_nth_from_the_right(items: list[str], trusted: int) -> None:
    stripped = [item.strip() for item in items]
    found = pick(stripped, trusted, parse_address)
    if trusted == 0 or not items:
        assert found is None
        return
    allowed = stripped[max(len(stripped) - trusted, 0) :]
    if found is not None:
        assert found in {parse_address(item) for item in allowed}
    else:
        assert all(parse_address(item) is None for item in allowed)


@given(
    st.lists(junk, max_size=6),
    st.lists(addresses, min_size=1, max_size=4),
    st.lists(junk, max_size=6),
)
def test_what_the_client_writes_never_changes_the_answer(
    spoof: list[str], appended: list[str], other_spoof: list[str]
) -> None:
    """Behind len(appended) proxies that each appended an address, the client's own entries
    (anything, any number) never change who the client is: the first appended address."""
    trusted = len(appended)
    one = _client(trusted, ", ".join([*spoof, *appended]))
    other = _client(trusted, ", ".join([*other_spoof, *appended]))
    assert one == other == str(ipaddress.ip_address(appended[0]))


@given(st.lists(addresses, min_size=1, max_size=6), st.integers(min_value=1, max_value=8), st.data())
def test_splitting_the_header_changes_nothing(items: list[str], trusted: int, data: st.DataObject) -> None:
    cuts = sorted(
        data.draw(st.sets(st.integers(min_value=1, max_value=len(items) - 1))) if len(items) > 1 else []
    )
    headers = [", ".join(items[a:b]) for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]
    assert _client(trusted, *headers) == _client(trusted, ", ".join(items))


@given(st.text(max_size=60))
def test_an_address_is_always_canonical(entry: str) -> None:
    found = parse_address(entry)
    if found is not None:
        assert found == str(ipaddress.ip_address(found))
        assert parse_address(found) == found


# --- the middleware -------------------------------------------------------------------


async def test_the_middleware_rewrites_client_and_scheme() -> None:
    scope = await _seen(
        1,
        [
            ("X-Forwarded-For", "198.51.100.1"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"


async def test_on_a_websocket_the_scheme_is_wss() -> None:
    scope = await _seen(1, [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")], "websocket")
    assert (scope["client"], scope["scheme"]) == (("203.0.113.7", 0), "wss")


@pytest.mark.parametrize(
    ("trusted", "headers"),
    [
        (0, [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]),  # not trusted
        (1, []),  # no header
        (1, [("X-Forwarded-For", "198.51.100.1, unknown"), ("X-Forwarded-Proto", "gopher")]),
    ],
)
async def test_otherwise_the_socket_peer_stays(trusted: int, headers: list[tuple[str, str]]) -> None:
    scope = await _seen(trusted, headers)
    assert (scope["client"], scope["scheme"]) == (PEER, "http")


async def test_lifespan_passes_through() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    await ClientAddress(app, trusted_proxies=1)({"type": "lifespan"}, receive, send)
    assert seen == [{"type": "lifespan"}]


def test_it_is_the_outermost_middleware(tmp_path: Path) -> None:
    for enabled in (True, False):
        app = create_app(make_settings(tmp_path, rate_limit={"enabled": enabled, "trusted_proxies": 2}))
        outermost = app.user_middleware[0]
        assert cast(object, outermost.cls) is ClientAddress
        assert outermost.kwargs == {"trusted_proxies": 2}
    # with no proxy to trust there is nothing to rewrite: not on the way of every request
    direct = create_app(make_settings(tmp_path, rate_limit={"trusted_proxies": 0}))
    assert all(cast(object, m.cls) is not ClientAddress for m in direct.user_middleware)


async def test_the_rate_limit_counts_the_address_the_proxy_appended(tmp_path: Path) -> None:
    """Behind one proxy a client that varies its own X-Forwarded-For entry still runs out."""
    settings = make_settings(tmp_path, rate_limit={"per_ip": "3/minute", "trusted_proxies": 1})
    query = {"query": "{ __typename }"}
    async with running_app(settings) as (_, http):
        statuses = [
            (
                await http.post(
                    "/graphql", json=query, headers={"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.7"}
                )
            ).status_code
            for i in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        other = await http.post(
            "/graphql", json=query, headers={"X-Forwarded-For": "203.0.113.7, 203.0.113.8"}
        )
        assert other.status_code == 200
