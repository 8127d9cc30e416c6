"""Fan-out across worker processes: how long one celebrity post takes with 1, 2 and 4
workers, and what a big fan-out does to a regular author's post (head-of-line).

Real `murmur worker` processes (one consumer each) handle the fan-out; the benchmark
process writes the post through the platform and watches the fan-out ledger, whose
last chunk marks the moment the post is in every follower's timeline.

- Completion: one post to `--followers` followers (chunks of 5,000), with 1, 2 and 4
  worker processes, embedded (one SQLite file) and on the cloud stand-ins (MongoDB,
  FalkorDB's Bolt, DynamoDB and SQS on moto, Redis), where `--cloud-followers` is
  smaller: moto is one Python process answering in milliseconds per request.
- Head-of-line: with two workers, the time from a regular author's post (50 followers)
  to its delivery, p50/p99 over `--regular-posts`, first with nothing else running,
  then while the celebrity's fan-out runs. Its chunks wait on the bulk lane, the post
  on the express lane, which every consumer looks at first.

    python -m bench.fanout_workers [--followers 100000] [--cloud-followers 5000] [--skip-cloud]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._servers import local_server
from devstack.cloud import WORKER_RUNNING, CloudServers, StoreNames, cloud_env, inherited_env, new_jwt_secret
from murmur.domain import IdGenerator, User, UserId
from murmur.platform import Platform, open_platform
from murmur.settings import Settings
from tests.servers._process import ServerProcess, log_tail, spawn

RESULTS = Path("bench-results/fanout_workers.json")
CHUNK = 5000
REGULAR_FOLLOWERS = 50
BIG_POSTS = 6  # big fan-outs queued at once for the head-of-line measurement


@dataclass
class Completion:
    shape: str
    followers: int
    workers: int
    seconds: float

    @property
    def deliveries_per_second(self) -> float:
        return self.followers / self.seconds


@dataclass
class HeadOfLine:
    shape: str
    while_big_fanout: bool
    p50_ms: float
    p99_ms: float
    posts: int


# --- worker processes ---------------------------------------------------------------------


@contextlib.contextmanager
def workers(count: int, env: Mapping[str, str], workdir: Path) -> Iterator[list[ServerProcess]]:
    """`count` worker processes, one consumer each, running; stopped by SIGTERM on exit."""
    worker_env = {**env, "MURMUR_WORKERS__HTTP_PORT": "0"}
    worker_env.pop("MURMUR_AUTH__JWT_SECRET", None)
    started = [
        spawn(
            f"bench-worker-{i}",
            [sys.executable, "-m", "api.cli", "worker", "--concurrency", "1"],
            workdir,
            env=worker_env,
        )
        for i in range(count)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(WORKER_RUNNING in p.log_path.read_text(errors="replace") for p in started):
            for process in started:
                if process.popen.poll() is not None:
                    raise SystemExit(f"a worker exited:\n{log_tail(process.log_path)}")
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start within 60 s")
            time.sleep(0.1)
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait_or_kill(timeout=30)


async def delivered(platform: Platform, post_id: str, chunks: int, *, poll: float) -> float:
    """Wait until every chunk of the post's fan-out is done; the monotonic time it was seen."""
    task = f"{post_id}:add"
    while len(await platform.backends.ledger.done(task=task)) < chunks:  # noqa: ASYNC110 - other processes work
        await asyncio.sleep(poll)
    return time.monotonic()


# --- the world -----------------------------------------------------------------------------


async def populate(platform: Platform, followers: int) -> tuple[UserId, UserId]:
    """A celebrity with `followers` followers and a regular author with 50 of them. Only the
    two authors need accounts (a post checks its author's); the followers are graph nodes."""
    b, ids = platform.backends, IdGenerator(node=11)
    joined = datetime.now(UTC) - timedelta(days=1)
    people = [UserId(ids.next_id(at=joined)) for _ in range(followers + 2)]
    celebrity, regular, fans = people[0], people[1], people[2:]
    for i, author in enumerate((celebrity, regular)):
        await b.users.create_user(
            user=User(id=author, username=f"author{i}_{author}", display_name="A", bio="", created_at=joined),
            password_hash="x",
        )
    pairs = [(fan, celebrity) for fan in fans] + [(fan, regular) for fan in fans[:REGULAR_FOLLOWERS]]
    follow_many = getattr(b.graph, "follow_many", None)  # Neptune's bulk path
    if follow_many is not None:
        await follow_many(pairs=pairs)
    else:
        for follower, followee in pairs:
            await b.graph.follow(follower=follower, followee=followee)
    return celebrity, regular


async def sqlite_populate(settings: Settings, followers: int) -> tuple[UserId, UserId]:
    """The embedded world, straight into the SQLite file (seconds, not minutes)."""
    async with open_platform(settings) as platform:
        db = platform.backends.resources[0]
        ids, now = IdGenerator(node=11), int(time.time() * 1000)
        people = [int(ids.next_id()) for _ in range(followers + 2)]
        celebrity, regular, fans = people[0], people[1], people[2:]
        async with db.write() as tx:  # type: ignore[attr-defined]
            await tx.executemany(
                "INSERT INTO users (id, username, display_name, bio, created_at, password_hash)"
                " VALUES (?, ?, 'B', '', ?, 'x')",
                [(p, f"b{p}", now) for p in people],
            )
            await tx.executemany(
                "INSERT INTO follows (follower, followee) VALUES (?, ?)",
                [(f, celebrity) for f in fans] + [(f, regular) for f in fans[:REGULAR_FOLLOWERS]],
            )
            await tx.executemany(
                "INSERT INTO follow_counts (user_id, followers, following) VALUES (?, ?, 0)",
                [(celebrity, len(fans)), (regular, REGULAR_FOLLOWERS)],
            )
    return UserId(str(celebrity)), UserId(str(regular))


# --- measurements --------------------------------------------------------------------------


async def completion(
    shape: str,
    settings: Settings,
    env: Mapping[str, str],
    workdir: Path,
    celebrity: UserId,
    followers: int,
    counts: list[int],
) -> list[Completion]:
    results = []
    chunks = -(-followers // CHUNK)
    async with open_platform(settings) as platform:
        for count in counts:
            with workers(count, env, workdir):
                started = time.monotonic()
                post = await platform.feed.create_post(author=celebrity, body=f"to all, {count} workers")
                seconds = await delivered(platform, post.id, chunks, poll=0.05) - started
            results.append(Completion(shape, followers, count, round(seconds, 2)))
            print(
                f"  {shape}: {followers:,} followers with {count} worker(s): {seconds:.2f} s"
                f" ({followers / seconds:,.0f} deliveries/s)"
            )
    return results


async def head_of_line(
    shape: str,
    settings: Settings,
    env: Mapping[str, str],
    workdir: Path,
    celebrity: UserId,
    regular: UserId,
    followers: int,
    posts: int,
) -> list[HeadOfLine]:
    results = []
    async with open_platform(settings) as platform:
        with workers(2, env, workdir):
            for loaded in (False, True):
                bigs = []
                if loaded:  # enough big fan-outs to outlast the regular posts
                    for n in range(BIG_POSTS):
                        bigs.append(await platform.feed.create_post(author=celebrity, body=f"big {n}"))
                    await asyncio.sleep(1.0)  # their chunks are queued and being worked
                warm_up = await platform.feed.create_post(author=regular, body="unmeasured")
                await delivered(platform, warm_up.id, 1, poll=0.005)  # the consumers' first task loads caches
                latencies = []
                for i in range(posts):
                    started = time.monotonic()
                    post = await platform.feed.create_post(author=regular, body=f"regular {i}")
                    latencies.append((await delivered(platform, post.id, 1, poll=0.005) - started) * 1000)
                    await asyncio.sleep(0.1)
                if bigs:
                    done = [len(await platform.backends.ledger.done(task=f"{b.id}:add")) for b in bigs]
                    print(
                        f"  ({sum(done)} of the big fan-outs' {len(bigs) * -(-followers // CHUNK)} chunks"
                        " were done when the last regular post arrived)"
                    )
                latencies.sort()
                row = HeadOfLine(
                    shape,
                    loaded,
                    round(statistics.median(latencies), 1),
                    round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
                    posts,
                )
                results.append(row)
                print(
                    f"  {shape}: a regular post to {REGULAR_FOLLOWERS} followers"
                    f" {'while a big fan-out runs' if loaded else 'with nothing else running'}:"
                    f" p50 {row.p50_ms} ms, p99 {row.p99_ms} ms"
                )
    return results


# --- the two shapes ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def embedded(
    tmp: Path, followers: int
) -> AsyncIterator[tuple[Settings, dict[str, str], UserId, UserId]]:
    env = {
        **inherited_env(keep_murmur=False),
        "MURMUR_DATA_DIR": str(tmp),
        "MURMUR_FANOUT": "push",
        "MURMUR_SEED__ENABLED": "false",
        "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": str(CHUNK),
        "MURMUR_WORKERS__WAIT_SECONDS": "0.05",
    }
    settings = Settings(
        data_dir=tmp, fanout="push", seed={"enabled": False}, workers={"followers_page_size": CHUNK}
    )
    celebrity, regular = await sqlite_populate(settings, followers)
    yield settings, env, celebrity, regular


@contextlib.asynccontextmanager
async def cloud(tmp: Path, followers: int) -> AsyncIterator[tuple[Settings, dict[str, str], UserId, UserId]]:
    with (
        local_server("redis_server") as redis,
        local_server("moto_server") as moto,
        local_server("mongo_server") as mongo,
        local_server("bolt_server") as bolt,
    ):
        servers = CloudServers(redis=redis, moto=moto, mongo=mongo, bolt=bolt)
        env = {
            **inherited_env(keep_murmur=False),
            **cloud_env(servers, jwt_secret=new_jwt_secret(), names=StoreNames.unique()),
            "MURMUR_FANOUT": "push",
            "MURMUR_SEED__ENABLED": "false",
            "MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE": str(CHUNK),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        settings = Settings(**_settings_from(env))
        async with open_platform(settings) as platform:
            print("  loading the cloud stand-ins (moto and FalkorDB take a while)...")
            celebrity, regular = await populate(platform, followers)
        yield settings, env, celebrity, regular


def _settings_from(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings from MURMUR_* variables, as the worker processes read them."""
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return Settings().model_dump()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def main(args: argparse.Namespace) -> dict[str, list[Any]]:
    counts = [int(c) for c in args.workers.split(",")]
    found: dict[str, list[Any]] = {"completion": [], "head_of_line": []}
    shapes = [("embedded", embedded, args.followers)]
    if not args.skip_cloud:
        shapes.append(("cloud", cloud, args.cloud_followers))
    for name, shape, followers in shapes:
        print(f"{name}:")
        with tempfile.TemporaryDirectory(prefix=f"murmur-bench-workers-{name}-") as tmp:
            async with shape(Path(tmp), followers) as (settings, env, celebrity, regular):
                found["completion"] += await completion(
                    name, settings, env, Path(tmp), celebrity, followers, counts
                )
                found["head_of_line"] += await head_of_line(
                    name, settings, env, Path(tmp), celebrity, regular, followers, args.regular_posts
                )
    for name in ("embedded", "cloud"):
        rows = [r for r in found["completion"] if r.shape == name]
        if rows:
            base = rows[0].seconds
            print(
                f"{name} speed-up over one worker: "
                + ", ".join(f"{r.workers}: {base / r.seconds:.2f}x" for r in rows)
            )
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--cloud-followers", type=int, default=5_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--regular-posts", type=int, default=40)
    parser.add_argument("--skip-cloud", action="store_true")
    measured = asyncio.run(main(parser.parse_args()))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({k: [asdict(r) for r in v] for k, v in measured.items()}, indent=2))
