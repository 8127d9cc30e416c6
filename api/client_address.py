"""The client's address and scheme as the proxies in front of the API saw them.

Behind N trusted proxies (MURMUR_RATE_LIMIT__TRUSTED_PROXIES; 1 behind an ALB) each proxy
appends the address of the peer it talked to to X-Forwarded-For, so only the rightmost N
entries were written by proxies; everything left of them is whatever the client sent. The
client is therefore the entry N places from the right: with one ALB, the last entry.

- Several X-Forwarded-For headers count as one list, joined in the order they came.
- Fewer than N entries: the request came through fewer proxies than configured, so every
  entry was written by one of them and the first is the client.
- An entry that is not an IP address (empty, "unknown", a name, garbage) keeps its place,
  so it never shifts the count, but is never taken: the nearest address to its right is,
  which a trusted proxy wrote (the address of a proxy, never one the client made up). An
  address may carry a port ("192.0.2.1:443", "[2001:db8::1]:443"); the port is dropped.
  None at all: the socket peer stays.
- X-Forwarded-Proto follows the same rule (http or https; anything else is not taken) and
  sets the scheme (ws or wss on a websocket).

With N = 0 (the default) the headers are ignored and the client is the socket peer: uvicorn's
own proxy-header handling is off (api/server.py), so nothing else rewrites it either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")

_SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}


def entries(values: Iterable[str]) -> list[str]:
    """The comma-separated entries of one or more header values, in order, stripped."""
    return [entry.strip() for value in values for entry in value.split(",")]


def pick(items: Sequence[str], trusted_proxies: int, parse: Callable[[str], T | None]) -> T | None:
    """The first entry, from N places from the right rightwards, that `parse` accepts.

    Never an entry left of the N-th from the right: those are the client's own words.
    """
    if trusted_proxies <= 0:
        return None
    for item in items[max(len(items) - trusted_proxies, 0) :]:
        value = parse(item)
        if value is not None:
            return value
    return None


def parse_address(entry: str) -> str | None:
    """An IP address in its canonical spelling, without a port; None if it is not one."""
    host = entry
    if entry.startswith("["):  # [2001:db8::1] or [2001:db8::1]:443
        end = entry.find("]")
        rest = entry[end + 1 :]
        if end < 0 or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
            return None
        host = entry[1:end]
    elif entry.count(":") == 1:  # 192.0.2.1:443 (a bare IPv6 address has several colons)
        host, port = entry.split(":")
        if not port.isdigit():
            return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1: one client, one budget
    return str(address)


def parse_scheme(entry: str) -> str | None:
    scheme = entry.lower()
    return scheme if scheme in _SCHEMES else None


class ClientAddress:
    """Pure ASGI middleware: sets scope["client"] and scope["scheme"] from the forwarded
    headers the trusted proxies wrote; outermost, so everything after it (the rate limits
    first) sees the real client."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: int) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted_proxies and scope["type"] in ("http", "websocket"):
            forwarded_for: list[str] = []
            forwarded_proto: list[str] = []
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded_for.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    forwarded_proto.append(value.decode("latin-1"))
            if forwarded_for:
                address = pick(entries(forwarded_for), self.trusted_proxies, parse_address)
                if address is not None:
                    scope["client"] = (address, 0)  # the client's port is not forwarded
            if forwarded_proto:
                scheme = pick(entries(forwarded_proto), self.trusted_proxies, parse_scheme)
                if scheme is not None:
                    scope["scheme"] = _SCHEMES[scheme][scope["type"] == "websocket"]
        await self.app(scope, receive, send)


def budget_key(scope: Scope) -> str:
    """Whose rate-limit budget a request spends: its client's IPv4 address, or its IPv6 /64
    (one subscriber's network, where a client may take any of 2^64 addresses)."""
    client = scope.get("client")
    return address_key(str(client[0])) if client else "unknown"


def address_key(host: str) -> str:
    """An address as a budget counts it: IPv4 as itself, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
