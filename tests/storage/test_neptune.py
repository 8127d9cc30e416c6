"""What the Neptune follow graph promises beyond the contract: a celebrity's followers
stay cheap to count and to page, batches fit the Bolt message limit, the IAM token is
Neptune's signed request, and driver failures map onto the store error tree."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import neo4j
import pytest
from botocore.credentials import ReadOnlyCredentials
from neo4j import AsyncDriver
from neo4j._codec.packstream.v1 import Packer  # the driver's own encoder: the sizes' ground truth
from neo4j.exceptions import (
    ClientError,
    CypherSyntaxError,
    DatabaseError,
    IncompleteCommit,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from murmur.domain import IdGenerator, InvalidInput, PermanentStoreError, RetryableStoreError, UserId
from murmur.settings import NeptuneSettings, Settings
from murmur.storage.base import FollowCounts
from murmur.storage.factory import open_backends
from murmur.storage.neptune import NeptuneFollowGraph
from murmur.storage.neptune.auth import SERVICE, iam_auth_manager, signed_auth_token
from murmur.storage.neptune.bolt import store_error
from murmur.storage.neptune.messages import (
    EXTRA_MAP_RESERVE,
    batches,
    literal_size,
    message_size,
    packed_size,
)
from tests.servers import BoltServer
from tests.servers._bolt_relay import MAX_MESSAGE_BYTES as RELAY_MAX_MESSAGE_BYTES
from tests.servers._process import free_port

_ids = IdGenerator(node=2)  # the contract suite mints with node 1: no shared ids on the shared server


def new_ids(n: int) -> list[UserId]:
    return [UserId(_ids.next_id()) for _ in range(n)]


@pytest.fixture
async def graph(bolt_server: BoltServer) -> AsyncIterator[NeptuneFollowGraph]:
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=bolt_server.uri))
    yield graph
    await graph.close()


# --- a celebrity, scaled down from 500K followers ------------------------------------------

FANS = 20_000
PAGE = 5_000


async def test_a_celebritys_followers_are_counted_from_the_node_and_paged_newest_first(
    graph: NeptuneFollowGraph, bolt_driver: AsyncDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    star, *fans = new_ids(FANS + 1)

    started = time.perf_counter()
    assert await graph.follow_many(pairs=[(fan, star) for fan in fans]) == FANS
    followed = time.perf_counter()
    counts = await graph.follow_counts(user_ids=[star, fans[0]])
    counted = time.perf_counter()
    walked: list[UserId] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await graph.followers(user_id=star, after=cursor, limit=PAGE)
        assert len(page.items) <= PAGE
        walked += page.items
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    paged = time.perf_counter()

    assert counts == {
        star: FollowCounts(followers=FANS, following=0),
        fans[0]: FollowCounts(followers=0, following=1),
    }
    assert pages == FANS // PAGE  # the last full page already says nothing is left
    assert walked == fans[::-1]  # each exactly once, newest first
    with capsys.disabled():
        print(
            f"\n{FANS} followers: follow_many {followed - started:.2f} s, "
            f"follow_counts {(counted - followed) * 1000:.1f} ms, "
            f"{pages} pages of {PAGE} {paged - counted:.2f} s"
        )

    # The count is the node's property, not a count of edges: O(1) at any size.
    await bolt_driver.execute_query("MATCH (u:User {id: $id}) SET u.followers = -7", id=int(star))
    assert (await graph.follow_counts(user_ids=[star]))[star].followers == -7
    await bolt_driver.execute_query("MATCH (u:User {id: $id}) SET u.followers = $n", id=int(star), n=FANS)


async def test_concurrent_follows_of_one_pair_make_one_edge(graph: NeptuneFollowGraph) -> None:
    fan, star = new_ids(2)
    answers = await asyncio.gather(*(graph.follow(follower=fan, followee=star) for _ in range(20)))
    assert answers.count(True) == 1
    assert (await graph.follow_counts(user_ids=[star]))[star] == FollowCounts(followers=1, following=0)


async def test_concurrent_followers_are_all_counted(graph: NeptuneFollowGraph) -> None:
    star, *fans = new_ids(51)
    answers = await asyncio.gather(*(graph.follow(follower=fan, followee=star) for fan in fans))
    assert all(answers)
    assert (await graph.follow_counts(user_ids=[star]))[star].followers == 50
    page = await graph.followers(user_id=star, after=None, limit=100)
    assert sorted(page.items) == sorted(fans)


async def test_follow_many_counts_a_repeated_pair_once(graph: NeptuneFollowGraph) -> None:
    a, b, c = new_ids(3)
    assert await graph.follow_many(pairs=[(a, b), (c, b), (a, b)]) == 2
    assert await graph.follow_many(pairs=[(a, b), (b, a)]) == 1
    assert await graph.follow_counts(user_ids=[a, b]) == {
        a: FollowCounts(followers=1, following=1),
        b: FollowCounts(followers=2, following=1),
    }


async def test_edges_with_the_same_seq_are_paged_by_id(
    graph: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    # Two processes can mint the same seq: the cursor still names one position.
    star, *fans = new_ids(4)
    await graph.follow_many(pairs=[(fan, star) for fan in fans])
    await bolt_driver.execute_query(
        "MATCH (:User)-[r:FOLLOWS]->(:User {id: $star}) SET r.seq = 42", star=int(star)
    )
    seen: list[UserId] = []
    cursor: str | None = None
    while True:
        page = await graph.followers(user_id=star, after=cursor, limit=1)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(fans, key=int, reverse=True)


@pytest.mark.parametrize("cursor", ["", "12", "12_", "_12", "1_2_3", "-1_2", "01_2", "1_x"])
async def test_a_malformed_cursor_is_invalid_input(graph: NeptuneFollowGraph, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        await graph.following(user_id=new_ids(1)[0], after=cursor, limit=3)


async def test_the_factory_opens_it_when_settings_choose_neptune(
    bolt_server: BoltServer, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, stores={"graph": "neptune"}, neptune={"uri": bolt_server.uri})
    backends = await open_backends(settings)
    try:
        assert isinstance(backends.graph, NeptuneFollowGraph)
        assert (await backends.ping())["NeptuneFollowGraph"] is True
        fan, star = new_ids(2)
        assert await backends.graph.follow(follower=fan, followee=star)
    finally:
        await backends.close()


# --- Bolt message sizes --------------------------------------------------------------------


def driver_packed(value: object) -> bytes:
    stream = io.BytesIO()
    Packer(stream).pack(value)  # type: ignore[no-untyped-call]
    return stream.getvalue()


_INT_EDGES = [0, -16, -17, 127, 128, -128, -129, 32767, 32768, -32768, -32769, 2**31 - 1, 2**31, -(2**31)]
_VALUES: list[Any] = [
    *_INT_EDGES,
    -(2**31) - 1,
    2**63 - 1,
    -(2**63),
    *("x" * n for n in (0, 15, 16, 255, 256, 65535, 65536)),
    "ünïcödé",
    None,
    True,
    False,
    1.5,
    b"",
    b"\x00" * 300,
    [],
    [1] * 15,
    [1] * 16,
    [1] * 256,
    [[374407185232129, 374407185232130, 1795475221194400]] * 3,
    {},
    {"rows": [[1, 2, 3]], "follower": 374407185232129},
    {f"k{i}": i for i in range(16)},
]


@pytest.mark.parametrize("value", _VALUES, ids=lambda v: repr(v)[:30])
def test_packed_size_is_what_the_driver_sends(value: object) -> None:
    assert packed_size(value) == len(driver_packed(value))


def cypher_text(query: str, parameters: dict[str, Any]) -> str:
    """The query as FalkorDB writes it out, parameters first (for ints and lists of them)."""
    written = "".join(
        f"{name}={json.dumps(value, separators=(', ', ': '))} " for name, value in parameters.items()
    )
    return f"CYPHER {written}{query}"


@pytest.mark.parametrize(
    "value", [0, -17, 374407185232129, [], [1], [[1, 2, 3]] * 4, [[374407185232129] * 3] * 2]
)
def test_literal_size_is_the_cypher_text_of_a_value(value: object) -> None:
    assert literal_size(value) == len(json.dumps(value, separators=(", ", ": ")))


def test_literal_size_of_other_values_is_at_least_their_text() -> None:
    assert literal_size({"a": 1, "bc": [2]}) == len("{a: 1, bc: [2]}")
    assert literal_size("it's") >= len("'it\\'s'")
    assert (literal_size(None), literal_size(True), literal_size(False)) == (4, 4, 5)
    assert literal_size(1.5) >= len("1.500000")


@pytest.mark.parametrize(
    "parameters",
    [{"x": [1, 2, 3]}, {"rows": [[374407185232129, 374407185232130, 1795475221194400]] * 50}],
    ids=["bolt-bound", "text-bound"],
)
def test_a_message_costs_its_run_message_or_its_cypher_text(parameters: dict[str, Any]) -> None:
    query = "UNWIND $rows AS row RETURN row"
    # RUN is a struct of three fields: query, parameters, extra (reserved for, not packed)
    bolt = 2 + len(driver_packed(query)) + len(driver_packed(parameters)) + EXTRA_MAP_RESERVE
    assert message_size(query, parameters) == max(bolt, len(cypher_text(query, parameters)))


@pytest.mark.parametrize("max_bytes", [512, 1000, 4000])
def test_batches_fill_each_message_without_exceeding_it(max_bytes: int) -> None:
    query, fixed = "UNWIND $rows AS row RETURN row", {"user": 374407185232129}
    rows: list[list[object]] = [
        [374407185232129 + i, 374407185232130, 1795475221194400 + i] for i in range(1000)
    ]
    rows[7] = ["a longer row " * 10]  # sizes vary

    made = list(batches(rows, query=query, name="rows", fixed=fixed, max_bytes=max_bytes))

    assert [row for batch in made for row in batch] == rows
    for batch, following in itertools.pairwise(made):
        assert message_size(query, {**fixed, "rows": batch}) <= max_bytes
        # as long as fits: one row more would not have
        assert message_size(query, {**fixed, "rows": [*batch, following[0]]}) > max_bytes
    assert message_size(query, {**fixed, "rows": made[-1]}) <= max_bytes


def test_a_row_too_big_for_any_message_is_refused() -> None:
    with pytest.raises(PermanentStoreError, match="does not fit"):
        list(batches([["x" * 600]], query="RETURN 1", name="rows", fixed={}, max_bytes=512))


def test_no_rows_make_no_batch() -> None:
    assert list(batches([], query="RETURN 1", name="rows", fixed={}, max_bytes=512)) == []


async def test_batches_at_the_relays_own_limit_pass_it(bolt_server: BoltServer) -> None:
    # The relay refuses any message over its limit, as FalkorDB would crash on it: batches
    # cut at exactly that limit must all get through.
    settings = NeptuneSettings(uri=bolt_server.uri, max_message_bytes=RELAY_MAX_MESSAGE_BYTES)
    graph = await NeptuneFollowGraph.open(settings)
    try:
        star, *fans = new_ids(1001)
        assert await graph.follow_many(pairs=[(fan, star) for fan in fans]) == 1000
        assert await graph.follows(follower=fans[0], followees=[star, *fans]) == {star}
        counts = await graph.follow_counts(user_ids=fans)
        assert set(counts.values()) == {FollowCounts(followers=0, following=1)}
    finally:
        await graph.close()


# --- IAM: Neptune's SigV4-signed Bolt token ------------------------------------------------

HOST, PORT, REGION = "murmur.cluster-abc.eu-west-1.neptune.amazonaws.com", 8182, "eu-west-1"
KEY_ID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def expected_signature(headers: dict[str, str], signed: list[str]) -> str:
    """SigV4, computed from its specification rather than by botocore."""
    date = headers["X-Amz-Date"]
    by_name = {name.lower(): value for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{by_name[name]}\n" for name in signed)
    empty_payload = hashlib.sha256(b"").hexdigest()
    canonical = f"GET\n/opencypher\n\n{canonical_headers}\n{';'.join(signed)}\n{empty_payload}"
    scope = f"{date[:8]}/{REGION}/{SERVICE}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{SECRET}".encode()
    for part in (date[:8], REGION, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def check_token(credentials: str, session_token: str | None) -> None:
    headers = json.loads(credentials)
    extra = {"X-Amz-Security-Token"} if session_token else set()
    assert set(headers) == {"Authorization", "X-Amz-Date", "Host", "HttpMethod", *extra}
    assert headers["HttpMethod"] == "GET"
    assert headers["Host"] == f"{HOST}:{PORT}"
    assert headers.get("X-Amz-Security-Token") == session_token
    assert re.fullmatch(r"\d{8}T\d{6}Z", headers["X-Amz-Date"])
    match = re.fullmatch(
        rf"AWS4-HMAC-SHA256 Credential={KEY_ID}/(\d{{8}})/{REGION}/neptune-db/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        headers["Authorization"],
    )
    assert match is not None, headers["Authorization"]
    day, signed, signature = match.groups()
    assert day == headers["X-Amz-Date"][:8]
    assert signed.split(";") == ["host", "x-amz-date", *(["x-amz-security-token"] if session_token else [])]
    assert signature == expected_signature(headers, signed.split(";"))


@pytest.mark.parametrize("session_token", [None, "FQoGZXIvYXdzEXAMPLETOKEN"], ids=["keys", "temporary"])
def test_the_iam_token_is_a_signed_get_of_opencypher(session_token: str | None) -> None:
    credentials = ReadOnlyCredentials(KEY_ID, SECRET, session_token)
    auth = signed_auth_token(credentials, region=REGION, host=HOST, port=PORT)
    assert (auth.scheme, auth.principal, auth.realm) == ("basic", "username", "realm")
    assert isinstance(auth.credentials, str)
    check_token(auth.credentials, session_token)


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only the environment's credentials: no config files, no instance metadata."""
    for name in (
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return monkeypatch


async def test_the_auth_manager_signs_with_the_credential_chain_and_re_signs_when_due(
    aws_environment: pytest.MonkeyPatch,
) -> None:
    aws_environment.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    aws_environment.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    aws_environment.setenv("AWS_SESSION_TOKEN", "token-1")
    manager = iam_auth_manager(region=REGION, host=HOST, port=PORT)

    first = await manager.get_auth()
    assert await manager.get_auth() is first  # still fresh: cached
    assert isinstance(first, neo4j.Auth)
    assert isinstance(first.credentials, str)
    check_token(first.credentials, "token-1")

    aws_environment.setattr("murmur.storage.neptune.auth.SIGNATURE_REFRESH_SECONDS", 0.0)
    manager = iam_auth_manager(region=REGION, host=HOST, port=PORT)
    expired = await manager.get_auth()
    assert await manager.get_auth() is not expired  # due: signed again


def test_iam_auth_without_credentials_is_a_permanent_error(aws_environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(PermanentStoreError, match="no AWS credentials"):
        iam_auth_manager(region=REGION, host=HOST, port=PORT)


# --- errors ----------------------------------------------------------------------------------


async def test_an_unreachable_server_is_a_retryable_error() -> None:
    settings = NeptuneSettings(uri=f"bolt://127.0.0.1:{free_port()}")
    started = time.perf_counter()
    with pytest.raises(RetryableStoreError):
        await NeptuneFollowGraph.open(settings, attempts=2)
    assert time.perf_counter() - started < 5  # refused at once, retried once


class DroppingProxy:
    """A TCP relay to the Bolt server that can cut every connection, as a Neptune failover does."""

    def __init__(self, upstream: BoltServer) -> None:
        self._upstream = upstream
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"bolt://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._upstream.host, self._upstream.port)
        self._writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        await self._server.wait_closed()


async def test_a_dropped_connection_is_retried_and_a_lost_server_is_a_retryable_error(
    bolt_server: BoltServer,
) -> None:
    proxy = DroppingProxy(bolt_server)
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=await proxy.start()))
    try:
        fan, star = new_ids(2)
        assert await graph.follow(follower=fan, followee=star)
        proxy.cut()  # the pooled connection is dead; the next query finds out and tries again
        assert await graph.follows(follower=fan, followees=[star]) == {star}
        await proxy.stop()
        with pytest.raises(RetryableStoreError):
            await graph.follows(follower=fan, followees=[star])
    finally:
        await graph.close()


async def test_a_bad_query_is_a_permanent_error(graph: NeptuneFollowGraph) -> None:
    with pytest.raises(PermanentStoreError, match="Invalid input"):
        await graph._run("MATCH (n RETURN n", {})
    await graph.ping()  # and the connection is still usable


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ServiceUnavailable("gone"), RetryableStoreError),
        (SessionExpired("expired"), RetryableStoreError),
        (TransientError("deadlock"), RetryableStoreError),
        (IncompleteCommit("unknown outcome"), RetryableStoreError),
        (ConnectionResetError("reset"), RetryableStoreError),
        (DatabaseError("{'code': 'ConcurrentModificationException'}"), RetryableStoreError),
        (CypherSyntaxError("Invalid input"), PermanentStoreError),
        (ClientError("refused"), PermanentStoreError),
        (DatabaseError("crashed"), PermanentStoreError),
    ],
    ids=lambda v: type(v).__name__,
)
def test_driver_errors_map_to_the_store_error_tree(error: Exception, kind: type[Exception]) -> None:
    assert type(store_error(error)) is kind


def test_other_exceptions_are_not_store_errors() -> None:
    assert store_error(ValueError("a bug")) is None
