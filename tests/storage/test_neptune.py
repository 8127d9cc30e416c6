"""What the Neptune follow graph promises beyond the contract: a celebrity's followers
stay cheap to count and to page, spans follow the current followers (blocks emptied by
unfollows are deleted), batches fit the Bolt message limit, the IAM token is
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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import neo4j
import pytest
from botocore.credentials import ReadOnlyCredentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
from murmur.storage.neptune.graph import DEFAULT_BLOCK_SIZE, cut_spans
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


async def walk_followers(graph: NeptuneFollowGraph, star: UserId, limit: int) -> list[list[UserId]]:
    pages: list[list[UserId]] = []
    cursor: str | None = None
    while True:
        page = await graph.followers(user_id=star, after=cursor, limit=limit)
        assert len(page.items) <= limit
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_a_celebritys_followers_are_counted_from_the_node_and_paged_newest_first(
    graph: NeptuneFollowGraph, bolt_driver: AsyncDriver, capsys: pytest.CaptureFixture[str]
) -> None:
    star, *fans = new_ids(FANS + 1)
    strangers = new_ids(3)

    started = time.perf_counter()
    assert await graph.follow_many(pairs=[(fan, star) for fan in fans]) == FANS
    followed = time.perf_counter()
    counts = await graph.follow_counts(user_ids=[star, fans[0]])
    counted = time.perf_counter()
    pages = await walk_followers(graph, star, PAGE)
    paged = time.perf_counter()
    spans = await graph.follower_spans(user_id=star, size=PAGE)
    parts = [await graph.followers_in(user_id=star, span=span) for span in spans]
    spanned = time.perf_counter()

    assert counts == {
        star: FollowCounts(followers=FANS, following=0),
        fans[0]: FollowCounts(followers=0, following=1),
    }
    assert len(pages) == FANS // PAGE  # the last full page already says nothing is left
    assert [fan for page in pages for fan in page] == fans[::-1]  # each exactly once, newest first
    # spans of whole blocks (5 of 1000): each holds the fans who followed in its stretch
    assert [sorted(part) for part in parts] == [
        sorted(fans[i : i + PAGE]) for i in range(FANS - PAGE, -1, -PAGE)
    ]
    among = await graph.followers_among(user_id=star, candidates=[*fans[:100], *strangers, star])
    assert among == set(fans[:100])
    with capsys.disabled():
        print(
            f"\n{FANS} followers: follow_many {followed - started:.2f} s, "
            f"follow_counts {(counted - followed) * 1000:.1f} ms, "
            f"{len(pages)} pages of {PAGE} {paged - counted:.2f} s, "
            f"{len(spans)} spans of {PAGE} {spanned - paged:.2f} s"
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


async def test_concurrent_followers_are_all_counted_each_with_a_seq_of_their_own(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    star, *fans = new_ids(51)
    answers = await asyncio.gather(*(small_blocks.follow(follower=fan, followee=star) for fan in fans))
    assert all(answers)
    assert (await small_blocks.follow_counts(user_ids=[star]))[star].followers == 50
    page = await small_blocks.followers(user_id=star, after=None, limit=100)
    assert sorted(page.items) == sorted(fans)
    blocks = await stored_blocks(bolt_driver, star)
    assert sorted(seq for members in blocks.values() for _, seq in members) == list(range(1, 51))
    assert all(len(members) == BLOCK for members in blocks.values())


async def test_follow_many_counts_a_repeated_pair_once(graph: NeptuneFollowGraph) -> None:
    a, b, c = new_ids(3)
    assert await graph.follow_many(pairs=[(a, b), (c, b), (a, b)]) == 2
    assert await graph.follow_many(pairs=[(a, b), (b, a)]) == 1
    assert await graph.follow_counts(user_ids=[a, b]) == {
        a: FollowCounts(followers=1, following=1),
        b: FollowCounts(followers=2, following=1),
    }


async def test_follow_many_numbers_each_followees_new_followers_in_order(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    # One query takes each followee's seqs at once, for its new followers only.
    s1, s2, f1, f2, f3 = new_ids(5)
    await small_blocks.follow(follower=f2, followee=s1)
    assert await small_blocks.follow_many(pairs=[(f1, s1), (f1, s2), (f2, s1), (f3, s2), (f3, s1)]) == 4
    assert await stored_blocks(bolt_driver, s1) == {f"{s1}:0": [(f2, 1), (f1, 2), (f3, 3)]}
    assert await stored_blocks(bolt_driver, s2) == {f"{s2}:0": [(f1, 1), (f3, 2)]}
    assert (await small_blocks.following(user_id=f1, after=None, limit=5)).items == [s2, s1]
    assert await small_blocks.follow_counts(user_ids=[s1, f1, f3]) == {
        s1: FollowCounts(followers=3, following=0),
        f1: FollowCounts(followers=0, following=2),
        f3: FollowCounts(followers=0, following=2),
    }


async def test_members_with_the_same_seq_are_paged_by_id(
    graph: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    # The cursor names one position even if seqs ever collide (they cannot here: one counter).
    star, *fans = new_ids(4)
    await graph.follow_many(pairs=[(fan, star) for fan in fans])
    await bolt_driver.execute_query(
        "MATCH (:User)-[m:MEMBER_OF]->(:FollowerBlock {key: $key}) SET m.seq = 2", key=f"{star}:0"
    )
    pages = await walk_followers(graph, star, 1)
    assert [fan for page in pages for fan in page] == sorted(fans, key=int, reverse=True)


@pytest.mark.parametrize("cursor", ["", "12", "12_", "_12", "1_2_3", "-1_2", "01_2", "1_x"])
async def test_a_malformed_cursor_is_invalid_input(graph: NeptuneFollowGraph, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        await graph.following(user_id=new_ids(1)[0], after=cursor, limit=3)
    with pytest.raises(InvalidInput):
        await graph.followers(user_id=new_ids(1)[0], after=cursor, limit=3)


@pytest.mark.parametrize(
    "span",
    [
        *["", "1:2", "2:1:10", "1:1:10", "0:5:0", "0:5:x", "0:5:10:1", "-1:5:10"],
        *["0:10/", "10:0/1", "0:10:3/1", "0:10/3-5", "0:10/5,5", "0:10/1,2", "0:10/1-", "0:10/x"],
        "0:10/100-0",  # more blocks than a span ever names
    ],
)
async def test_a_span_not_from_this_graph_is_a_permanent_error(graph: NeptuneFollowGraph, span: str) -> None:
    with pytest.raises(PermanentStoreError):
        await graph.followers_in(user_id=new_ids(1)[0], span=span)


async def test_a_block_size_below_one_is_refused(bolt_server: BoltServer) -> None:
    with pytest.raises(ValueError, match="follower_block_size"):
        await NeptuneFollowGraph.open(NeptuneSettings(uri=bolt_server.uri), follower_block_size=0)


async def test_the_factory_opens_it_when_settings_choose_neptune(
    bolt_server: BoltServer, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, stores={"graph": "neptune"}, neptune={"uri": bolt_server.uri})
    backends = await open_backends(settings)
    try:
        assert isinstance(backends.graph, NeptuneFollowGraph)
        assert (await backends.ping())["graph"] is True
        fan, star = new_ids(2)
        assert await backends.graph.follow(follower=fan, followee=star)
    finally:
        await backends.close()


# --- followers in blocks: reads cost their own size, not the follower count ----------------

BLOCK = 10


@pytest.fixture
async def small_blocks(bolt_server: BoltServer) -> AsyncIterator[NeptuneFollowGraph]:
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=bolt_server.uri), follower_block_size=BLOCK)
    yield graph
    await graph.close()


async def stored_blocks(driver: AsyncDriver, user: UserId) -> dict[str, list[tuple[UserId, int]]]:
    """The user's follower blocks as stored: key -> [(follower, seq)], by seq."""
    records, _, _ = await driver.execute_query(
        "MATCH (:User {id: $user})<-[r:FOLLOWS]-(a:User)-[m:MEMBER_OF]->(blk:FollowerBlock) "
        "WHERE blk.key STARTS WITH $prefix "
        "RETURN blk.key AS key, a.id AS follower, m.seq AS seq, r.seq AS pair_seq",
        user=int(user),
        prefix=f"{user}:",
    )
    blocks: dict[str, list[tuple[UserId, int]]] = {}
    for r in sorted(records, key=lambda r: r["seq"]):
        assert r["pair_seq"] == r["seq"]  # both edges of a follow carry its seq
        blocks.setdefault(r["key"], []).append((UserId(str(r["follower"])), r["seq"]))
    return blocks


class BlockReads:
    """The block keys each query of a graph looks up (what a read costs: their members)."""

    def __init__(self, graph: NeptuneFollowGraph, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queries: list[list[str]] = []
        run = graph._run

        async def spy(query: str, parameters: Mapping[str, Any], **options: Any) -> list[neo4j.Record]:
            if "keys" in parameters:
                self.queries.append(list(parameters["keys"]))
            return await run(query, parameters, **options)

        monkeypatch.setattr(graph, "_run", spy)

    def take(self) -> list[str]:
        """Every key looked up since the last take, in order."""
        keys = [key for query in self.queries for key in query]
        self.queries.clear()
        return keys


async def plant(driver: AsyncDriver, key: str, seq: int) -> UserId:
    """A stranger in block `key` with `seq`: found only by a read of that very block."""
    (stranger,) = new_ids(1)
    await driver.execute_query(
        "MATCH (blk:FollowerBlock {key: $key}) CREATE (:User {id: $id})-[:MEMBER_OF {seq: $seq}]->(blk)",
        key=key,
        id=int(stranger),
        seq=seq,
    )
    return stranger


async def test_followers_are_stored_in_blocks_numbered_by_follow_order(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    star, *fans = new_ids(26)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    blocks = await stored_blocks(bolt_driver, star)
    assert blocks == {
        f"{star}:{n}": [(fan, seq) for seq, fan in enumerate(fans, 1)][n * BLOCK : (n + 1) * BLOCK]
        for n in range(3)
    }
    records, _, _ = await bolt_driver.execute_query(
        "MATCH (u:User {id: $id}) RETURN u.follower_seq AS last, u.block_size AS size", id=int(star)
    )
    assert (records[0]["last"], records[0]["size"]) == (25, BLOCK)


async def test_unfollow_removes_both_edges_and_following_again_joins_the_newest_block(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    star, *fans = new_ids(13)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    assert await small_blocks.unfollow(follower=fans[3], followee=star)
    blocks = await stored_blocks(bolt_driver, star)
    assert fans[3] not in [fan for members in blocks.values() for fan, _ in members]
    records, _, _ = await bolt_driver.execute_query(
        "MATCH (:User {id: $id})-[e]->() RETURN count(e) AS edges", id=int(fans[3])
    )
    assert records[0]["edges"] == 0  # neither FOLLOWS nor MEMBER_OF is left

    await small_blocks.follow(follower=fans[3], followee=star)
    assert (await stored_blocks(bolt_driver, star))[f"{star}:1"][-1] == (fans[3], 13)
    assert (await small_blocks.follow_counts(user_ids=[star]))[star] == FollowCounts(
        followers=12, following=0, unfollows=1
    )


async def test_a_deep_page_looks_up_as_many_blocks_as_the_first(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    star, *fans = new_ids(1001)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    reads = BlockReads(small_blocks, monkeypatch)

    looked_up: list[list[str]] = []
    pages: list[list[UserId]] = []
    cursor: str | None = None
    while True:
        page = await small_blocks.followers(user_id=star, after=cursor, limit=BLOCK)
        looked_up.append(reads.take())
        pages.append(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [fan for page in pages for fan in page] == fans[::-1]
    assert len(pages) == 100

    def block(fan: UserId) -> int:  # fans[i] has seq i + 1
        return fans.index(fan) // BLOCK

    # Each page looks up exactly the blocks from its cursor's (page 1: the newest) down to
    # the one holding the follower after the page (its look-ahead), however deep it is.
    for number, keys in enumerate(looked_up):
        top = block(pages[number - 1][-1]) if number else 99
        bottom = block(pages[number + 1][0]) if number + 1 < len(pages) else 0
        assert keys == [f"{star}:{n}" for n in range(top, bottom - 1, -1)], number
    assert len(looked_up[0]) == 2 and len(looked_up[-1]) == 2
    assert {len(keys) for keys in looked_up[1:-1]} == {3}  # the cursor's block, read out, too
    # and it reads those blocks only: a stranger planted in the oldest block with the
    # newest seq would come first on page 1 if page 1 read that block
    stranger = await plant(bolt_driver, f"{star}:0", 1000)
    assert stranger not in (await small_blocks.followers(user_id=star, after=None, limit=BLOCK)).items


async def test_a_page_goes_on_past_blocks_emptied_by_unfollows(
    small_blocks: NeptuneFollowGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    star, *fans = new_ids(401)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    for fan in fans[5:395]:  # blocks 1 to 38 empty, blocks 0 and 39 half full
        await small_blocks.unfollow(follower=fan, followee=star)
    reads = BlockReads(small_blocks, monkeypatch)

    page = await small_blocks.followers(user_id=star, after=None, limit=8)

    assert page.items == [*fans[395:][::-1], *fans[4:1:-1]]
    assert [len(keys) for keys in reads.queries] == [1, 2, 4, 8, 16, 9]  # windows doubling
    assert reads.take() == [f"{star}:{n}" for n in range(39, -1, -1)]  # each block once, in order
    assert (await small_blocks.followers(user_id=star, after=page.next_cursor, limit=8)).items == fans[1::-1]


@pytest.mark.parametrize("size", [20, 15, 4, 1000])
async def test_a_span_looks_up_only_the_blocks_its_followers_are_in(
    small_blocks: NeptuneFollowGraph,
    bolt_driver: AsyncDriver,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
) -> None:
    star, *fans = new_ids(96)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    spans = await small_blocks.follower_spans(user_id=star, size=size)
    reads = BlockReads(small_blocks, monkeypatch)

    parts: list[list[UserId]] = []
    for span in spans:
        part = await small_blocks.followers_in(user_id=star, span=span)
        parts.append(part)
        # A span holds followers consecutive in follow order; the i-th fan is in block
        # i // BLOCK. Those blocks, newest first, are all the span looks up.
        order = sorted(fans.index(fan) for fan in part)
        blocks = range(order[-1] // BLOCK, order[0] // BLOCK - 1, -1)
        assert reads.take() == [f"{star}:{n}" for n in blocks]
        assert order == list(range(order[0], order[0] + len(part)))
        assert len(part) <= size

    assert sorted(fan for part in parts for fan in part) == sorted(fans)


async def test_a_span_read_of_one_block_touches_no_other(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    star, *fans = new_ids(31)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    spans = await small_blocks.follower_spans(user_id=star, size=BLOCK)
    assert len(spans) == 3
    # strangers with seqs inside the middle span, but stored in the blocks around it
    strangers = [await plant(bolt_driver, f"{star}:{n}", 15) for n in (0, 2)]

    middle = await small_blocks.followers_in(user_id=star, span=spans[1])

    assert sorted(middle) == sorted(fans[10:20])
    assert not set(strangers) & set(middle)


async def test_a_users_blocks_keep_the_size_they_were_made_with(
    small_blocks: NeptuneFollowGraph, graph: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    # a setting changed between deploys must not renumber anyone's blocks
    star, *fans = new_ids(36)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans[:15]])
    await graph.follow_many(pairs=[(fan, star) for fan in fans[15:]])  # opened with 1000

    assert [len(members) for members in (await stored_blocks(bolt_driver, star)).values()] == [10, 10, 10, 5]
    for reader in (small_blocks, graph):
        pages = await walk_followers(reader, star, 7)
        assert [fan for page in pages for fan in page] == fans[::-1]
        spans = await reader.follower_spans(user_id=star, size=BLOCK)
        parts = [await reader.followers_in(user_id=star, span=span) for span in spans]
        assert [sorted(part) for part in parts] == [
            sorted(fans[i : i + BLOCK]) for i in range(30, -1, -BLOCK)
        ]


# --- spans over the live blocks only; blocks emptied by unfollows are deleted ---------------


async def stored_block_nodes(driver: AsyncDriver, user: UserId) -> dict[int, tuple[int | None, int]]:
    """The user's FollowerBlock nodes as stored: n -> (members property, MEMBER_OF edges)."""
    records, _, _ = await driver.execute_query(
        "MATCH (blk:FollowerBlock) WHERE blk.key STARTS WITH $prefix "
        "OPTIONAL MATCH (blk)<-[m:MEMBER_OF]-() "
        "RETURN blk.key AS key, blk.owner AS owner, blk.n AS n, blk.members AS members, count(m) AS edges",
        prefix=f"{user}:",
    )
    nodes: dict[int, tuple[int | None, int]] = {}
    for r in records:
        n = int(r["key"].split(":")[1])
        if r["owner"] is not None:
            assert (r["owner"], r["n"]) == (int(user), n)
        nodes[n] = (r["members"], r["edges"])
    return nodes


async def spans_read(graph: NeptuneFollowGraph, star: UserId, size: int) -> list[list[UserId]]:
    spans = await graph.follower_spans(user_id=star, size=size)
    return [await graph.followers_in(user_id=star, span=span) for span in spans]


@pytest.mark.parametrize("blocks", [BLOCK, DEFAULT_BLOCK_SIZE], ids=["blocks-of-10", "blocks-of-1000"])
async def test_spans_count_the_current_followers_not_every_follow_ever_made(
    bolt_server: BoltServer, blocks: int
) -> None:
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=bolt_server.uri), follower_block_size=blocks)
    try:
        star, *fans = new_ids(1001)
        await graph.follow_many(pairs=[(fan, star) for fan in fans])
        for fan in fans[:-1]:
            assert await graph.unfollow(follower=fan, followee=star)
        # 1,000 follows, 1 follower: one span of one block (the old cut made 100 of 1..1000)
        assert await spans_read(graph, star, 10) == [[fans[-1]]]

        more = new_ids(1000)
        await graph.follow_many(pairs=[(fan, star) for fan in more])
        for fan in more:
            if more.index(fan) % 20:
                await graph.unfollow(follower=fan, followee=star)
        # 51 followers now, one in every other block of 10 (or all in two blocks of 1000)
        parts = await spans_read(graph, star, 10)
        assert sorted(fan for part in parts for fan in part) == sorted([fans[-1], *more[::20]])
        assert all(len(part) <= 10 for part in parts)
        assert len(parts) == 6  # ~ 51 / 10, whatever the history (the old cut: 200)
    finally:
        await graph.close()


async def test_a_block_emptied_by_unfollows_is_deleted_and_a_follow_into_it_makes_it_again(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    star, *fans = new_ids(26)
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans[:23]])  # blocks 0, 1, 2 (3)
    assert await stored_block_nodes(bolt_driver, star) == {0: (10, 10), 1: (10, 10), 2: (3, 3)}

    for fan in fans[10:20]:  # block 1 emptied
        await small_blocks.unfollow(follower=fan, followee=star)
    await small_blocks.unfollow(follower=fans[0], followee=star)
    assert await stored_block_nodes(bolt_driver, star) == {0: (9, 9), 2: (3, 3)}

    for fan in fans[20:23]:  # the newest block emptied: gone too
        await small_blocks.unfollow(follower=fan, followee=star)
    assert await stored_block_nodes(bolt_driver, star) == {0: (9, 9)}
    # the next follows take seqs 24 and 25, in block 2: it is made again, counted from 0
    await small_blocks.follow_many(pairs=[(fans[23], star), (fans[20], star)])
    assert await stored_block_nodes(bolt_driver, star) == {0: (9, 9), 2: (2, 2)}
    parts = await spans_read(small_blocks, star, 100)
    assert [sorted(part) for part in parts] == [sorted([*fans[1:10], fans[23], fans[20]])]
    # and the followers pages go past the deleted block as before
    pages = await walk_followers(small_blocks, star, 4)
    assert [fan for page in pages for fan in page] == [fans[20], fans[23], *fans[9:0:-1]]


async def test_one_follow_query_counts_each_block_once(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 25 followers of one star and 3 of another across blocks, in one round trip
    star, other, *fans = new_ids(27)
    await small_blocks.follow(follower=fans[0], followee=star)
    queries: list[str] = []
    run = small_blocks._run

    async def spy(query: str, parameters: Mapping[str, Any], **options: Any) -> list[neo4j.Record]:
        queries.append(query)
        return await run(query, parameters, **options)

    monkeypatch.setattr(small_blocks, "_run", spy)
    pairs = [(fan, star) for fan in fans] + [(fan, other) for fan in fans[:3]]
    assert await small_blocks.follow_many(pairs=pairs) == 27
    assert await small_blocks.follow(follower=star, followee=other)
    assert len(queries) == 2
    assert await stored_block_nodes(bolt_driver, star) == {0: (10, 10), 1: (10, 10), 2: (5, 5)}
    assert await stored_block_nodes(bolt_driver, other) == {0: (4, 4)}


@pytest.mark.parametrize(
    ("blocks", "size", "spans"),
    [
        # whole blocks, newest first, while their members add up to at most the size
        ([(3, 4), (2, 5), (0, 10)], 10, ["20:40/3-2", "0:10/0"]),
        ([(9, 1), (7, 2), (6, 3), (2, 4)], 10, ["20:100/9,7-6,2"]),
        # a block with more members than the size is cut alone, by seq, into equal parts of
        # the seqs it has so far; its top part reaches the block's end
        ([(1, 10), (0, 10)], 4, ["16:20/1", "13:16/1", "10:13/1", "6:10/0", "3:6/0", "0:3/0"]),
        ([(1, 4)], 2, ["12:20/1", "10:12/1"]),  # the block holds seqs 11..14 so far
    ],
)
def test_spans_group_whole_blocks_and_cut_a_block_bigger_than_the_size(
    blocks: list[tuple[int, int]], size: int, spans: list[str]
) -> None:
    assert cut_spans(blocks, size=size, block_size=10, last=14 if blocks == [(1, 4)] else 40) == spans


def test_a_span_names_at_most_its_share_of_blocks() -> None:
    spans = cut_spans([(n, 1) for n in range(200)], size=5000, block_size=1000, last=200_000)
    assert spans == [
        f"{lo * 1000}:{(hi + 1) * 1000}/{hi}-{lo}" for hi, lo in [(199, 136), (135, 72), (71, 8), (7, 0)]
    ]


def assert_each_follower_in_one_span(parts: list[list[UserId]], followers: set[UserId]) -> None:
    found = [fan for part in parts for fan in part]
    assert sorted(found) == sorted(followers)  # each exactly once


async def test_follows_and_unfollows_racing_span_cuts_lose_no_one(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    # Whole blocks empty (and are deleted) and new ones are made while spans are cut and
    # read: each span set is cut during one step of writes and read during the next, so
    # it names blocks deleted since, or made again since. Every span set holds each
    # follower who was there throughout exactly once.
    star, *fans = new_ids(121)
    stay = [fan for i, fan in enumerate(fans) if (i // BLOCK) % 2 == 0 and i % 2 == 0]
    churn = [fan for fan in fans if fan not in stay]  # the odd blocks whole, half the even ones
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans])
    sizes = (1, 7, 10, 35, 1000)

    async def cut() -> list[list[str]]:
        return [await small_blocks.follower_spans(user_id=star, size=size) for size in sizes]

    async def read(span_sets: list[list[str]]) -> list[list[UserId]]:
        return [
            [fan for span in spans for fan in await small_blocks.followers_in(user_id=star, span=span)]
            for spans in span_sets
        ]

    def check(found_by_size: list[list[UserId]]) -> None:
        for found in found_by_size:
            # one who left and came back may be read twice: in a block a span named, and
            # again, followed anew, in a newer block
            assert sorted(fan for fan in found if fan in stay) == sorted(stay)

    # sixteen writes at a time: enough to race the cuts, not ninety connections at once
    # through the stand-in's relay (under a loaded machine that many once stalled it)
    connections = asyncio.Semaphore(16)

    async def change(write: Callable[..., Awaitable[bool]], fan: UserId) -> bool:
        async with connections:
            return await write(follower=fan, followee=star)

    pending = await cut()
    for step in range(5):  # unfollow, follow, unfollow, follow, unfollow
        write = small_blocks.unfollow if step % 2 == 0 else small_blocks.follow
        pending, found, done = await asyncio.gather(
            cut(), read(pending), asyncio.gather(*(change(write, fan) for fan in churn))
        )
        assert all(done)
        check(found)
    check(await read(pending))

    # the odd blocks and every block the churn made on top are gone; the counts are exact
    assert await stored_block_nodes(bolt_driver, star) == {n: (5, 5) for n in range(0, 12, 2)}
    assert (await small_blocks.follow_counts(user_ids=[star]))[star].followers == len(stay)


_OPS = st.lists(st.tuples(st.booleans(), st.integers(0, 11)), min_size=1, max_size=40)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example mints its own ids
)
@given(ops=_OPS, size=st.integers(1, 25))
async def test_spans_hold_each_current_follower_once_after_any_follows_and_unfollows(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver, ops: list[tuple[bool, int]], size: int
) -> None:
    star, *fans = new_ids(13)
    current: set[UserId] = set()
    for follow, i in ops:
        if follow:
            assert await small_blocks.follow(follower=fans[i], followee=star) == (fans[i] not in current)
            current.add(fans[i])
        else:
            assert await small_blocks.unfollow(follower=fans[i], followee=star) == (fans[i] in current)
            current.discard(fans[i])

    parts = await spans_read(small_blocks, star, size)
    assert_each_follower_in_one_span(parts, current)
    nodes = await stored_block_nodes(bolt_driver, star)
    # as many spans as the current followers take, plus at most one per live block (a cut)
    assert len(parts) <= -(-len(current) // size) + len(nodes)
    if size >= BLOCK:  # whole blocks only: at most size each (a block cut by seq inside is
        assert all(len(part) <= size for part in parts)  # cut by count, not by placement)
    assert all(members == edges > 0 for members, edges in nodes.values())  # no empty block left
    assert (await small_blocks.follow_counts(user_ids=[star]))[star].followers == len(current)


# The follow query before blocks were counted: blocks with a key only, and no counted_from.
_UNCOUNTED_FOLLOW = """
UNWIND $rows AS row
MERGE (a:User {id: row[0]}) ON CREATE SET a.followers = 0, a.following = 0, a.unfollows = 0,
    a.follower_seq = 0, a.block_size = $block_size
MERGE (b:User {id: row[1]}) ON CREATE SET b.followers = 0, b.following = 0, b.unfollows = 0,
    b.follower_seq = 0, b.block_size = $block_size
WITH a, b, row[2] AS at
OPTIONAL MATCH (a)-[old:FOLLOWS]->(b)
WITH a, b, at, old WHERE old IS NULL
WITH a, b, at ORDER BY at
WITH b, collect(a) AS fans, collect(at) AS ats
SET b.follower_seq = b.follower_seq + size(fans), b.followers = b.followers + size(fans)
WITH b, fans, ats, b.follower_seq - size(fans) AS base
UNWIND range(0, size(fans) - 1) AS i
WITH b, fans[i] AS a, ats[i] AS at, base + i + 1 AS seq
MERGE (blk:FollowerBlock {key: toString(b.id) + ':' + toString(toInteger((seq - 1) / b.block_size))})
CREATE (a)-[:FOLLOWS {seq: seq, at: at}]->(b), (a)-[:MEMBER_OF {seq: seq}]->(blk)
SET a.following = a.following + 1
RETURN count(*) AS created
"""


async def test_blocks_made_before_blocks_were_counted_are_cut_by_seq_and_kept(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    star, *fans = new_ids(41)
    rows = [[int(fan), int(star), i] for i, fan in enumerate(fans[:25], 1)]
    await bolt_driver.execute_query(_UNCOUNTED_FOLLOW, rows=rows, block_size=BLOCK)
    uncounted = {0: (None, 10), 1: (None, 10), 2: (None, 5)}
    assert await stored_block_nodes(bolt_driver, star) == uncounted

    # before any follow here: all of it by seq, as before
    assert [sorted(p) for p in await spans_read(small_blocks, star, 10)] == [
        sorted(fans[i : min(i + 10, 25)]) for i in (20, 10, 0)
    ]
    for fan in fans[10:20]:  # unfollows here empty an uncounted block: it stays
        await small_blocks.unfollow(follower=fan, followee=star)
    assert await stored_block_nodes(bolt_driver, star) == {0: (None, 10), 1: (None, 0), 2: (None, 5)}

    # the first follow here starts a counted block after the newest uncounted one
    await small_blocks.follow_many(pairs=[(fan, star) for fan in fans[25:]])
    assert await stored_block_nodes(bolt_driver, star) == {
        0: (None, 10),
        1: (None, 0),
        2: (None, 5),
        3: (10, 10),
        4: (5, 5),
    }
    assert (await stored_blocks(bolt_driver, star))[f"{star}:3"][0] == (fans[25], 31)
    parts = await spans_read(small_blocks, star, 10)
    assert [sorted(p) for p in parts] == [
        sorted(fans[35:]),
        sorted(fans[25:35]),
        sorted(fans[20:25]),
        [],
        sorted(fans[:10]),
    ]
    pages = await walk_followers(small_blocks, star, 7)
    assert [fan for page in pages for fan in page] == [*fans[:9:-1][:20], *fans[9::-1]]
    assert (await small_blocks.follow_counts(user_ids=[star]))[star].followers == 30


async def test_a_block_whose_count_drifted_is_kept_and_read_while_it_has_members(
    small_blocks: NeptuneFollowGraph, bolt_driver: AsyncDriver
) -> None:
    """During a rolling upgrade a Murmur from before counted blocks can add a member to a
    counted block without counting it: the block must neither be deleted with its member
    in it nor left out of the spans when its count reaches 0."""
    star, first, second, old = new_ids(4)
    await small_blocks.follow_many(pairs=[(first, star), (second, star)])
    # the old writer's follow: a third seq, into the same block, not counted
    await bolt_driver.execute_query(_UNCOUNTED_FOLLOW, rows=[[int(old), int(star), 3]], block_size=BLOCK)
    for fan in (first, second):
        await small_blocks.unfollow(follower=fan, followee=star)
    assert await stored_block_nodes(bolt_driver, star) == {0: (0, 1)}  # counted 0, one member
    assert [sorted(p) for p in await spans_read(small_blocks, star, 10) if p] == [[old]]
    await small_blocks.unfollow(follower=old, followee=star)
    assert await stored_block_nodes(bolt_driver, star) == {}  # its last member gone: deleted


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
