"""Locust users that speak Murmur's GraphQL: `locust -f loadtest/locustfile.py`.

`murmur experiment` runs this headless; it can also be run by hand against any Murmur
that `murmur generate` loaded (set MURMUR_LOAD_PERSONAS to its personas file).

- Every request is a named operation (`op:homeTimeline`, ...). A 200 answer carrying
  `errors`, or a mutation answering one of its error types, is a failure.
- Each simulated user logs in as a persona from the generated graph and behaves like its
  tier: regular users mostly read, celebrities post far more often (TIER_MIX), which makes
  the whole mix 9:1 reads to writes with the share of personas per tier (PERSONA_SHARES).
- `DeliveryProbe` (one instance) holds a graphql-transport-ws subscription as a follower
  and reports, as request type WS, the time from a post by an author of each tier to its
  ADDED event reaching that follower: the delivery latency a user sees.
- `SteadyThenBurst` runs the steady phase, then the burst, from MURMUR_LOAD_* settings.

Settings (environment): MURMUR_LOAD_PERSONAS, MURMUR_LOAD_PASSWORD, MURMUR_LOAD_USERS
(simulated users in the steady phase), MURMUR_LOAD_BURST_FACTOR, MURMUR_LOAD_STEADY_SECONDS,
MURMUR_LOAD_BURST_SECONDS, MURMUR_LOAD_THINK_SECONDS (mean pause between requests),
MURMUR_LOAD_WARMUP_SECONDS, MURMUR_LOAD_MARKER, MURMUR_LOAD_SEED, MURMUR_LOAD_PROBE (0 leaves
the delivery probe out).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import gevent
import websocket
from gevent.event import Event
from locust import LoadTestShape, User, between, events, task
from locust.contrib.fasthttp import FastHttpUser

PERSONA_SHARES = {"regular": 0.80, "influencer": 0.15, "celebrity": 0.05}
# per tier, the share of requests that are writes: with PERSONA_SHARES, 9.1% (about 9:1)
TIER_WRITE_SHARE = {"regular": 0.045, "influencer": 0.20, "celebrity": 0.50, "star": 0.20}
READS = {"homeTimeline": 60, "homeTimelineNextPage": 10, "userProfile": 15, "followerList": 15}
WRITES = {"createPost": 70, "follow": 12, "unfollow": 8, "deletePost": 10}
PROBE_TIERS = ("regular", "influencer", "celebrity", "star")
PROBE_TIMEOUT_SECONDS = 30.0

LOGIN = """mutation login($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    __typename ... on AuthPayload { token user { id } } ... on Error { message } } }"""
REGISTER = """mutation register($username: String!, $password: String!) {
  register(username: $username, password: $password) {
    __typename ... on AuthPayload { token user { id } } ... on Error { message } } }"""
HOME_TIMELINE = """query homeTimeline($first: Int!, $after: String) {
  timeline(first: $first, after: $after) {
    edges { node { id body createdAt author { id username } } }
    pageInfo { hasNextPage endCursor } } }"""
USER_PROFILE = """query userProfile($id: ID!) {
  user(id: $id) { id username displayName bio followerCount followingCount viewerFollows } }"""
FOLLOWER_LIST = """query followerList($id: ID!) {
  user(id: $id) { followers(first: 20) { edges { node { id username } } } } }"""
CREATE_POST = """mutation createPost($body: String!) {
  createPost(body: $body) { __typename ... on PostPayload { post { id } } ... on Error { message } } }"""
DELETE_POST = """mutation deletePost($id: ID!) {
  deletePost(id: $id) { __typename ... on Error { message } } }"""
FOLLOW = """mutation follow($id: ID!) {
  follow(userId: $id) { __typename ... on Error { message } } }"""
UNFOLLOW = """mutation unfollow($id: ID!) {
  unfollow(userId: $id) { __typename ... on Error { message } } }"""
SUBSCRIBE = "subscription { timelineEvents { kind postId } }"


@dataclass(frozen=True)
class Personas:
    usernames: list[str]
    ids: list[str]
    tiers: list[str]
    by_tier: dict[str, list[int]]

    @classmethod
    def load(cls, path: str) -> Personas:
        with open(path) as file:
            people = json.load(file)["personas"]
        by_tier: dict[str, list[int]] = {}
        for index, tier in enumerate(people["tier"]):
            by_tier.setdefault(tier, []).append(index)
        return cls(people["username"], people["id"], people["tier"], by_tier)


def _setting(name: str, default: str) -> str:
    return os.environ.get(f"MURMUR_LOAD_{name}", default)


_personas: Personas | None = None
_personas_lock = threading.Lock()
_rng = random.Random(int(_setting("SEED", "7")))
_user_numbers = itertools.count()


def personas() -> Personas:
    global _personas
    with _personas_lock:
        if _personas is None:
            _personas = Personas.load(_setting("PERSONAS", "data/personas.json"))
        return _personas


def password() -> str:
    return _setting("PASSWORD", "murmur-demo")


def _operation(name: str) -> str:
    """The GraphQL operation behind a request name (several names share one operation)."""
    return name.removeprefix("probe:").removesuffix("NextPage")


class GraphQLFailure(Exception):
    pass


class GraphQLClient(FastHttpUser):
    """One logged-in persona speaking GraphQL over HTTP."""

    abstract = True
    token: str | None = None

    def gql(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with self.client.post(
            "/graphql",
            json={"query": query, "variables": variables, "operationName": _operation(name)},
            headers=headers,
            name=f"op:{name}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                raise GraphQLFailure(name)
            body = response.json()
            if body.get("errors"):
                response.failure(f"errors: {body['errors'][0].get('message', '?')}")
                raise GraphQLFailure(name)
            data: dict[str, Any] = body.get("data") or {}
            result = next(iter(data.values()), None)
            if isinstance(result, dict) and "message" in result:  # a mutation's error type
                response.failure(f"{result.get('__typename')}: {result['message']}")
                raise GraphQLFailure(name)
            response.success()
            return data

    def login(self, username: str) -> tuple[str, str]:
        data = self.gql("login", LOGIN, {"username": username, "password": password()})
        return data["login"]["token"], data["login"]["user"]["id"]


class TimelineUser(GraphQLClient):
    """A generated user: reads timelines, profiles and follower lists, posts, follows,
    unfollows and deletes, in its tier's proportions."""

    think = float(_setting("THINK_SECONDS", "1.0"))
    wait_time = between(think * 0.5, think * 1.5)

    def on_start(self) -> None:
        people = personas()
        number = next(_user_numbers)
        self.tier = _tier_for(number, people)
        self.me = _rng.choice(people.by_tier[self.tier])
        self.token, self.my_id = self.login(people.usernames[self.me])
        self.cursor: str | None = None
        self.followed: list[str] = []
        self.posted: list[str] = []
        self.rng = random.Random(number)

    @task
    def act(self) -> None:
        writes = self.rng.random() < TIER_WRITE_SHARE[self.tier]
        mix = WRITES if writes else READS
        operation = self.rng.choices(list(mix), weights=list(mix.values()))[0]
        with contextlib.suppress(GraphQLFailure):  # already reported to Locust as a failure
            getattr(self, f"_{operation}")()

    def _homeTimeline(self) -> None:
        data = self.gql("homeTimeline", HOME_TIMELINE, {"first": 20, "after": None})
        page = data["timeline"]["pageInfo"]
        self.cursor = page["endCursor"] if page["hasNextPage"] else None

    def _homeTimelineNextPage(self) -> None:
        if self.cursor is None:
            return self._homeTimeline()
        data = self.gql("homeTimelineNextPage", HOME_TIMELINE, {"first": 20, "after": self.cursor})
        page = data["timeline"]["pageInfo"]
        self.cursor = page["endCursor"] if page["hasNextPage"] else None
        return None

    def _userProfile(self) -> None:
        self.gql("userProfile", USER_PROFILE, {"id": self._someone()})

    def _followerList(self) -> None:
        self.gql("followerList", FOLLOWER_LIST, {"id": self._someone()})

    def _createPost(self) -> None:
        body = f"load post {self.rng.randrange(10**9)} from {self.tier}"
        data = self.gql("createPost", CREATE_POST, {"body": body})
        self.posted.append(data["createPost"]["post"]["id"])

    def _deletePost(self) -> None:
        if not self.posted:
            return self._createPost()
        self.gql("deletePost", DELETE_POST, {"id": self.posted.pop(0)})
        return None

    def _follow(self) -> None:
        target = self._someone()
        if target == self.my_id:
            return
        self.gql("follow", FOLLOW, {"id": target})
        self.followed.append(target)

    def _unfollow(self) -> None:
        if not self.followed:
            return self._follow()
        self.gql("unfollow", UNFOLLOW, {"id": self.followed.pop(0)})
        return None

    def _someone(self) -> str:
        return personas().ids[self.rng.randrange(len(personas().ids))]


def _tier_for(number: int, people: Personas) -> str:
    """The first simulated user is the star (when the graph has one); the others follow
    PERSONA_SHARES, celebrities and influencers spread evenly through the numbering."""
    if number == 0 and people.by_tier.get("star"):
        return "star"
    position = (number * 0.618034) % 1.0  # golden-ratio steps: every prefix keeps the shares
    for tier, share in PERSONA_SHARES.items():
        if position < share:
            return tier
        position -= share
    return "regular"


class DeliveryProbe(GraphQLClient):
    """Post as an author of each tier, time the ADDED event at a follower's websocket."""

    fixed_count = 1
    wait_time = between(1.0, 2.0)

    def on_start(self) -> None:
        people = personas()
        self.authors = {
            tier: _rng.choice(people.by_tier[tier]) for tier in PROBE_TIERS if people.by_tier.get(tier)
        }
        self.tokens = {tier: self.login(people.usernames[i])[0] for tier, i in self.authors.items()}
        name = f"probe_{os.getpid()}_{_rng.randrange(10**9)}"
        registered = self.gql("register", REGISTER, {"username": name, "password": password()})["register"]
        self.token = registered["token"]
        for author in self.authors.values():
            self.gql("follow", FOLLOW, {"id": people.ids[author]})
        self.waiting: dict[str, tuple[float, Event]] = {}
        self.arrived: dict[str, float] = {}
        self.socket = _subscribe(self.host or "", self.token)
        self.reader = gevent.spawn(self._read)
        self.turn = itertools.cycle(self.authors)

    def on_stop(self) -> None:
        self.reader.kill()
        self.socket.close()

    @task
    def probe(self) -> None:
        tier = next(self.turn)
        self.token, reader_token = self.tokens[tier], self.token
        try:
            event = Event()
            started = time.time()
            data = self.gql("probe:createPost", CREATE_POST, {"body": f"probe from a {tier}"})
            post_id = data["createPost"]["post"]["id"]
            self.waiting[post_id] = (started, event)
            if post_id in self.arrived:
                event.set()
            arrived = event.wait(PROBE_TIMEOUT_SECONDS)
            elapsed_ms = (self.arrived.get(post_id, time.time()) - started) * 1000
            events.request.fire(  # type: ignore[no-untyped-call]
                request_type="WS",
                name=f"post→ADDED ({tier})",
                response_time=elapsed_ms,
                response_length=0,
                exception=None if arrived else TimeoutError(f"no ADDED in {PROBE_TIMEOUT_SECONDS:.0f} s"),
                context={},
            )
        except GraphQLFailure:
            pass
        finally:
            self.token = reader_token

    def _read(self) -> None:
        while True:
            message = json.loads(self.socket.recv())
            if message.get("type") == "ping":
                self.socket.send(json.dumps({"type": "pong"}))
            elif message.get("type") == "next":
                found = message["payload"]["data"]["timelineEvents"]
                if found["kind"] == "ADDED":
                    self.arrived[found["postId"]] = time.time()
                    waiting = self.waiting.get(found["postId"])
                    if waiting is not None:
                        waiting[1].set()


def _subscribe(host: str, token: str) -> websocket.WebSocket:
    socket = websocket.create_connection(
        host.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"], timeout=None
    )
    socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    if json.loads(socket.recv()).get("type") != "connection_ack":
        raise ConnectionError("the server did not acknowledge the websocket")
    socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    return socket


class SteadyThenBurst(LoadTestShape):
    """A warm-up, MURMUR_LOAD_USERS simulated users for the steady phase, then that many
    times the burst factor for the burst; then stop. Statistics restart when the warm-up
    ends, and MURMUR_LOAD_MARKER (a file) is written then, for whoever scrapes the server."""

    use_common_options = False
    user_classes: ClassVar[list[type[User]]] = []
    _measuring = False

    def tick(self) -> tuple[int, float, list[type[User]]] | None:
        users = int(_setting("USERS", "10"))
        warmup = float(_setting("WARMUP_SECONDS", "0"))
        steady = float(_setting("STEADY_SECONDS", "30"))
        burst = float(_setting("BURST_SECONDS", "10"))
        factor = float(_setting("BURST_FACTOR", "2"))
        classes: list[type[User]] = [TimelineUser]
        if _setting("PROBE", "1") != "0":
            classes.append(DeliveryProbe)
        probes = 1 if DeliveryProbe in classes else 0
        elapsed = self.get_run_time()  # type: ignore[no-untyped-call]
        if elapsed >= warmup and not self._measuring and self.runner is not None:
            self._measuring = True
            self.runner.stats.reset_all()
            marker = _setting("MARKER", "")
            if marker:
                with open(marker, "w") as file:
                    file.write(f"{time.time()}\n")
        if elapsed < warmup + steady:
            return users + probes, max(1.0, users / 2), classes
        if elapsed < warmup + steady + burst:
            return round(users * factor) + probes, max(1.0, users * factor), classes
        return None
