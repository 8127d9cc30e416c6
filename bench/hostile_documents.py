"""The worst GraphQL documents we know how to write, grown to the API's limits.

Each family aims at one weakness of GraphQL validation (fragments re-walked at each
spread, pairwise field comparison, deep visitor paths, many operations or variables) and
is grown to the largest instance the limits still let through, so a benchmark or a fuzz
test measures what an attacker can really send. Used by bench/validation.py and by the
hostile-client tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql.language import Lexer, Source, TokenKind

from murmur.settings import ApiSettings

USER_SCALARS = ("id", "username", "displayName", "bio", "createdAt", "followerCount", "followingCount")
USER_LISTS = ("followers", "following")


def token_count(text: str) -> int:
    lexer, count = Lexer(Source(text)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    aim: str
    make: Callable[[int, ApiSettings], str]  # the instance of size n

    def largest(self, limits: ApiSettings) -> str:
        """The largest instance within max_tokens and max_body_bytes (n by bisection)."""
        low, high = 1, 4096
        while low < high:
            middle = (low + high + 1) // 2
            text = self.make(middle, limits)
            if token_count(text) <= limits.max_tokens and len(text.encode()) <= limits.max_body_bytes - 64:
                low = middle
            else:
                high = middle - 1
        return self.make(low, limits)


def _bomb(n: int, limits: ApiSettings) -> str:
    count = min(n, limits.max_fragments - 1, (limits.max_fragment_spreads - 1) // 2)
    chain = " ".join(f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(count))
    return f'query {{ user(username: "demo") {{ ...F0 }} }} {chain} fragment F{count} on User {{ id }}'


def _fragment_pairs(n: int, limits: ApiSettings) -> str:
    """Every fragment spread side by side: graphql-core compares each pair of them."""
    count = min(limits.max_fragments, limits.max_fragment_spreads)
    fields = " ".join(USER_SCALARS[: 1 + n % len(USER_SCALARS)] * max(1, n // len(USER_SCALARS)))
    spreads = " ".join(f"...F{i}" for i in range(count))
    return f"{{ viewer {{ {spreads} }} }} " + " ".join(
        f"fragment F{i} on User {{ {_capped(fields)} }}" for i in range(count)
    )


def _capped(fields: str, times: int = 20) -> str:
    """Keep each name at most `times` times (the repeated-field limit)."""
    seen: dict[str, int] = {}
    kept = []
    for name in fields.split():
        seen[name] = seen.get(name, 0) + 1
        if seen[name] <= times:
            kept.append(name)
    return " ".join(kept)


def _repeats(n: int, limits: ApiSettings) -> str:
    """Each field name as often as allowed, in every selection set down to the depth limit,
    in as many aliased copies as fit."""
    full = " ".join(name for name in USER_SCALARS for _ in range(20))
    inner = full
    for _ in range((limits.max_depth - 1) // 3):
        inner = f"{full} following(first: 1) {{ edges {{ node {{ {inner} }} }} }}"
    copies = min(n, limits.max_aliases)
    return "{ " + " ".join(f'u{c}: user(username: "x{c}") {{ {inner} }}' for c in range(copies)) + " }"


def _conflicting_arguments(n: int, limits: ApiSettings) -> str:
    """Same response name, different arguments: each pair is compared and conflicts."""
    per_name = min(20, n)
    lists = " ".join(
        f"{name}(first: {i}) {{ pageInfo {{ hasNextPage }} }}" for name in USER_LISTS for i in range(per_name)
    )
    posts = " ".join(f"posts(first: {i}) {{ pageInfo {{ hasNextPage }} }}" for i in range(per_name))
    copies = max(1, n // 20)
    return (
        "{ " + " ".join(f'u{c}: user(username: "x{c}") {{ {lists} {posts} }}' for c in range(copies)) + " }"
    )


def _deep(n: int, limits: ApiSettings) -> str:
    """Fields to the depth limit with an inline fragment at every level (nesting limit)."""
    depth = min(limits.max_depth - 1, n)
    inner = " ".join(USER_SCALARS)
    for _ in range(depth // 3):
        inner = f"... on User {{ {inner} followers(first: 2) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ viewer {{ {inner} }} }}"


def _operations(n: int, limits: ApiSettings) -> str:
    """Many operations, the first ones sharing a fragment: rules that work per operation
    (variables, fragments reached) repeat for each."""
    with_spread = min(n, limits.max_fragment_spreads)
    operations = [f"query Q{i} {{ viewer {{ ...F }} }}" for i in range(with_spread)]
    operations += [f"query Q{i} {{ viewer {{ id }} }}" for i in range(with_spread, n)]
    return " ".join(operations) + " fragment F on User { id username }"


def _variables(n: int, limits: ApiSettings) -> str:
    """Many variables: twenty used (one per allowed alias), the rest defined and unused."""
    defined = " ".join(f"$v{i}: Int" for i in range(n))
    used = " ".join(
        f"p{i}: posts(first: $v{i}) {{ pageInfo {{ hasNextPage }} }}"
        for i in range(min(n, limits.max_aliases))
    )
    return f"query({defined}) {{ viewer {{ {used} }} }}"


def _introspection(n: int, limits: ApiSettings) -> str:
    """Introspection as deep as graphql-core lets it go, aliased."""
    inner = "name ofType { name ofType { name ofType { name } } }"
    body = f"types {{ name fields {{ name args {{ name type {{ {inner} }} }} type {{ {inner} }} }} }}"
    copies = min(n, limits.max_aliases)
    return "{ " + " ".join(f"s{i}: __schema {{ {body} }}" for i in range(copies)) + " }"


def _long_strings(n: int, limits: ApiSettings) -> str:
    """A body near the size limit in a few string arguments: the lexer's worst."""
    size = max(1, (limits.max_body_bytes - 200) // 20)
    return "{ " + " ".join(f'u{i}: user(username: "{"x" * size}") {{ id }}' for i in range(min(n, 20))) + " }"


FAMILIES = (
    Family("fragment bomb", "fragments spreading the next one twice", _bomb),
    Family("fragment pairs", "every fragment spread side by side", _fragment_pairs),
    Family("repeated fields", "each name 20 times per selection set", _repeats),
    Family(
        "conflicting arguments", "same name, different arguments, compared pairwise", _conflicting_arguments
    ),
    Family("deep inline fragments", "depth and nesting at their limits", _deep),
    Family("many operations", "per-operation rules repeated", _operations),
    Family("many variables", "variable rules", _variables),
    Family("introspection", "aliased introspection at its depth limit", _introspection),
    Family("long strings", "a body near its size limit", _long_strings),
)


def random_documents(limits: ApiSettings, *, seed: int, count: int) -> Iterator[str]:
    """Random documents near the token limit built from the schema's User fields, with
    aliases, fragments, inline fragments and directives mixed in: a fuzzer's view."""
    rng = random.Random(seed)
    for _ in range(count):
        fragments = [
            f"fragment R{i} on User {{ {_random_selection(rng, 2)} }}" for i in range(rng.randint(0, 6))
        ]
        names = [f.split()[1] for f in fragments]
        parts: list[str] = []
        text = ""
        while True:
            part = _random_selection(rng, 3)
            if names and rng.random() < 0.3:
                part += " " + " ".join(f"...{rng.choice(names)}" for _ in range(rng.randint(1, 3)))
            candidate = "{ viewer { " + " ".join([*parts, part]) + " } } " + " ".join(fragments)
            if token_count(candidate) > limits.max_tokens:
                break
            parts.append(part)
            text = candidate
        yield text or "{ __typename }"


def _random_selection(rng: random.Random, depth: int) -> str:
    picked = [rng.choice(USER_SCALARS) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.2:
        picked.append(f"{rng.choice(USER_SCALARS)} @skip(if: false)")
    if depth > 0 and rng.random() < 0.5:
        field = rng.choice(USER_LISTS)
        picked.append(
            f"{field}(first: {rng.randint(0, 5)}) {{ edges {{ node {{ {_random_selection(rng, depth - 1)} }} }} }}"
        )
    if depth > 0 and rng.random() < 0.2:
        picked.append(f"... on User {{ {_random_selection(rng, depth - 1)} }}")
    return " ".join(picked)
