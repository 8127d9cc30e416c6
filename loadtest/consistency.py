"""The consistency study: how long a post takes to become visible, and what races do.

Against one running server per strategy, on a fresh copy of the generated store:

- **Visibility.** Authors of each tier post; a few of their followers poll their home
  timeline every POLL_SECONDS until the post shows: post-to-visibility times by tier.
- **Races with a star's fan-out** (the account everyone follows). In each round the star
  posts, and at once one follower unfollows, a new user follows, and in every other round
  the star deletes the post again. Racing readers poll throughout. Every sighting that
  contradicts the final truth is an anomaly: *transient* if it clears by itself (an
  unfollower still seeing the post for a moment: its chunk was written before the unfollow
  and the re-check removed it), *permanent* if it is still there once fan-out has drained
  (a bug: there must be none).
- **Agreement.** The same scripted operations, then the first timeline page of a fixed set
  of users, as (author, body) lists: every strategy must give the same lists.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

POLL_SECONDS = 0.01
VISIBILITY_TIMEOUT_SECONDS = 30.0
CONVERGENCE_TIMEOUT_SECONDS = 60.0

LOGIN = """mutation($u: String!, $p: String!) { login(username: $u, password: $p) {
  ... on AuthPayload { token user { id } } ... on Error { message } } }"""
REGISTER = """mutation($u: String!, $p: String!) { register(username: $u, password: $p) {
  ... on AuthPayload { token user { id } } ... on Error { message } } }"""
POST = """mutation($b: String!) { createPost(body: $b) { ... on PostPayload { post { id } } ... on Error { message } } }"""
DELETE = """mutation($id: ID!) { deletePost(id: $id) { ... on Error { message } } }"""
FOLLOW = """mutation($id: ID!) { follow(userId: $id) { ... on Error { message } } }"""
UNFOLLOW = """mutation($id: ID!) { unfollow(userId: $id) { ... on Error { message } } }"""
TIMELINE = """query($n: Int!) { timeline(first: $n) { edges { node { id body author { username } } } } }"""
FOLLOWERS = """query($id: ID!) { user(id: $id) { followers(first: 5) { edges { node { username } } } } }"""


class StudyClientError(RuntimeError):
    pass


@dataclass
class Session:
    client: httpx.AsyncClient
    username: str
    token: str
    user_id: str

    async def call(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        body = response.json()
        if body.get("errors"):
            raise StudyClientError(f"{self.username}: {body['errors'][0].get('message')}")
        data: dict[str, Any] = body["data"]
        result = next(iter(data.values()))
        if isinstance(result, dict) and "message" in result:
            raise StudyClientError(f"{self.username}: {result['message']}")
        return data

    async def timeline_ids(self, first: int = 20) -> list[str]:
        data = await self.call(TIMELINE, n=first)
        return [edge["node"]["id"] for edge in data["timeline"]["edges"]]

    async def timeline_view(self, first: int = 20) -> list[tuple[str, str]]:
        data = await self.call(TIMELINE, n=first)
        return [(e["node"]["author"]["username"], e["node"]["body"]) for e in data["timeline"]["edges"]]

    async def post(self, body: str) -> str:
        return str((await self.call(POST, b=body))["createPost"]["post"]["id"])


async def login(
    client: httpx.AsyncClient, username: str, password: str, *, register: bool = False
) -> Session:
    response = await client.post(
        "/graphql",
        json={"query": REGISTER if register else LOGIN, "variables": {"u": username, "p": password}},
    )
    result = next(iter(response.json()["data"].values()))
    if "token" not in result:
        raise StudyClientError(f"{username}: {result.get('message')}")
    return Session(client, username, result["token"], result["user"]["id"])


@dataclass
class Personas:
    usernames: list[str]
    ids: list[str]
    tiers: list[str]

    def of_tier(self, tier: str) -> list[int]:
        return [i for i, t in enumerate(self.tiers) if t == tier]


@dataclass
class Anomaly:
    kind: str  # "transient" or "permanent"
    what: str
    round: int
    seconds: float
    explanation: str


@dataclass
class ConsistencyResult:
    visibility_ms: dict[str, list[float]] = field(default_factory=dict)  # by author tier
    missed: dict[str, int] = field(default_factory=dict)  # sightings that never came
    anomalies: list[Anomaly] = field(default_factory=list)
    rounds: int = 0
    convergence_ms: list[float] = field(default_factory=list)  # race rounds: post → final truth
    agreement: list[list[tuple[str, str]]] = field(default_factory=list)


async def visibility(
    client: httpx.AsyncClient, people: Personas, password: str, rng: random.Random, posts_per_tier: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    times: dict[str, list[float]] = {}
    missed: dict[str, int] = {}
    for tier in ("regular", "influencer", "celebrity", "star"):
        candidates = people.of_tier(tier)
        if not candidates:
            continue
        for _ in range(posts_per_tier):
            author_index = rng.choice(candidates)
            author = await login(client, people.usernames[author_index], password)
            followers = await author.call(FOLLOWERS, id=author.user_id)
            names = [e["node"]["username"] for e in followers["user"]["followers"]["edges"]][:3]
            if not names:
                continue
            observers = [await login(client, name, password) for name in names]
            started = time.monotonic()
            post_id = await author.post(f"visibility probe {rng.randrange(10**9)}")
            seen = await asyncio.gather(*(_until_seen(o, post_id, started) for o in observers))
            times.setdefault(tier, []).extend(s * 1000 for s in seen if s is not None)
            missed[tier] = missed.get(tier, 0) + sum(1 for s in seen if s is None)
    return times, missed


async def _until_seen(observer: Session, post_id: str, started: float) -> float | None:
    while time.monotonic() - started < VISIBILITY_TIMEOUT_SECONDS:
        if post_id in await observer.timeline_ids():
            return time.monotonic() - started
        await asyncio.sleep(POLL_SECONDS)
    return None


async def races(
    client: httpx.AsyncClient, people: Personas, password: str, rng: random.Random, rounds: int, drained: Any
) -> tuple[list[Anomaly], list[float]]:
    """The star posts; one follower unfollows and a newcomer follows at once; every other
    round the star deletes the post. See the module docstring for what counts."""
    stars = people.of_tier("star")
    if not stars:
        return [], []
    star = await login(client, people.usernames[stars[0]], password)
    regulars = people.of_tier("regular")
    anomalies: list[Anomaly] = []
    convergence: list[float] = []
    for round_ in range(rounds):
        deleting = round_ % 2 == 1
        leaver = await login(client, people.usernames[rng.choice(regulars)], password)
        watcher = await login(client, people.usernames[rng.choice(regulars)], password)
        newcomer = await login(client, f"race_{round_}_{rng.randrange(10**9)}", password, register=True)
        if leaver.username == watcher.username:
            continue
        started = time.monotonic()
        post_id = await star.post(f"race round {round_}")
        changes = [leaver.call(UNFOLLOW, id=star.user_id), newcomer.call(FOLLOW, id=star.user_id)]
        if deleting:
            changes.append(star.call(DELETE, id=post_id))
        await asyncio.gather(*changes)
        changed_at = time.monotonic()
        expect = {leaver.username: False, newcomer.username: not deleting, watcher.username: not deleting}
        sightings = await _watch_until_true([leaver, newcomer, watcher], post_id, expect)
        converged_at = time.monotonic()
        await asyncio.to_thread(drained)
        for session in (leaver, newcomer, watcher):
            wrong_since = sightings.get(session.username)
            if wrong_since is not None:
                anomalies.append(
                    Anomaly(
                        "transient",
                        _what(session.username, leaver, newcomer, watcher, deleting),
                        round_,
                        wrong_since,
                        _why(session.username, leaver, deleting),
                    )
                )
            final = post_id in await session.timeline_ids(first=50)
            if final != expect[session.username]:
                anomalies.append(
                    Anomaly(
                        "permanent",
                        _what(session.username, leaver, newcomer, watcher, deleting),
                        round_,
                        converged_at - changed_at,
                        "still wrong after fan-out drained",
                    )
                )
        convergence.append((converged_at - started) * 1000)
        await leaver.call(FOLLOW, id=star.user_id)  # the graph back as it was
    return anomalies, convergence


async def _watch_until_true(
    sessions: Sequence[Session], post_id: str, expect: dict[str, bool]
) -> dict[str, float]:
    """Poll until every session's view matches `expect`; for each session that was seen
    contradicting it after the changes returned, for how long (seconds)."""
    started = time.monotonic()
    wrong: dict[str, float] = {}
    while time.monotonic() - started < CONVERGENCE_TIMEOUT_SECONDS:
        views = await asyncio.gather(*(s.timeline_ids(first=50) for s in sessions))
        now = time.monotonic() - started
        settled = True
        for session, view in zip(sessions, views, strict=True):
            shows = post_id in view
            if shows != expect[session.username]:
                settled = False
                if shows:  # it shows where it must not: an anomaly while it lasts
                    wrong[session.username] = now
        if settled:
            return wrong
        await asyncio.sleep(POLL_SECONDS)
    return wrong


def _what(name: str, leaver: Session, newcomer: Session, watcher: Session, deleting: bool) -> str:
    if name == leaver.username:
        return "the unfollower saw the star's post"
    if deleting:
        return "the deleted post was seen after the delete returned"
    return "seen out of order"


def _why(name: str, leaver: Session, deleting: bool) -> str:
    if name == leaver.username and not deleting:
        return (
            "a fan-out chunk read the follower list before the unfollow and wrote after it; "
            "its re-check (or the unfollow's own task) removed the entry"
        )
    return "a chunk wrote the post before the delete's removal reached that timeline; the removal then took it out"


async def agreement(
    client: httpx.AsyncClient, people: Personas, password: str, seed: int, drained: Any
) -> list[list[tuple[str, str]]]:
    """Scripted posts, follows, unfollows and deletes by a few personas, then their first
    timeline pages as (author, body): equal under every strategy."""
    rng = random.Random(seed)
    cast = sorted(rng.sample(range(len(people.usernames)), 8))
    sessions = [await login(client, people.usernames[i], password) for i in cast]
    posted: list[tuple[Session, str]] = []
    for step in range(40):
        actor = sessions[rng.randrange(len(sessions))]
        other = sessions[rng.randrange(len(sessions))]
        roll = rng.random()
        if roll < 0.5:
            posted.append((actor, await actor.post(f"script {seed} step {step}")))
        elif roll < 0.7 and other is not actor:
            await actor.call(FOLLOW, id=other.user_id)
        elif roll < 0.85 and other is not actor:
            await actor.call(UNFOLLOW, id=other.user_id)
        elif posted:
            author, post_id = posted.pop(rng.randrange(len(posted)))
            await author.call(DELETE, id=post_id)
    await asyncio.to_thread(drained)
    return [await s.timeline_view(first=30) for s in sessions]


async def run_consistency(
    url: str, people: Personas, password: str, *, seed: int, rounds: int, posts_per_tier: int, drained: Any
) -> ConsistencyResult:
    rng = random.Random(seed)
    result = ConsistencyResult(rounds=rounds)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        result.agreement = await agreement(client, people, password, seed, drained)
        result.visibility_ms, result.missed = await visibility(client, people, password, rng, posts_per_tier)
        result.anomalies, result.convergence_ms = await races(client, people, password, rng, rounds, drained)
    return result
