"""`murmur experiment`: the fan-out study, one cell at a time.

A cell is (strategy, users, cache on or off). Each gets a fresh store holding the
generated graph (the graph is generated once per size and loaded once per delivery plan;
cells that share a plan start from a copy of the same file), a `murmur serve`, and the
Locust workload: a warm-up, the steady phase, the burst. Around the measured part the
server's /metrics are scraped, so store operations, fan-out lag and latencies are counted
for it alone; then the run waits for fan-out to drain, and measures the store.

The cost-model hybrid needs the measured costs of a push write and a pull read: the push
and pull cells of the smallest size run first, and their numbers become its weights.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest.deployments import CloudDeployment, Deployment, EmbeddedDeployment
from loadtest.graph import GraphSpec, World, generate
from loadtest.load import LoadReport, load_world, tier_summary, write_personas
from loadtest.locust_run import LoadShape, read_failures, read_history, read_stats, start_locust, wait_for
from loadtest.processes import UsageSampler, study_env
from loadtest.scrape import Snapshot
from murmur.settings import Settings, Strategy
from murmur.socialgraph import Tier

PASSWORD = "murmur-study"
STRATEGIES = (Strategy.PUSH, Strategy.PULL, Strategy.HYBRID, Strategy.COST_MODEL)
READ_OPERATIONS = ("homeTimeline", "homeTimelineNextPage", "userProfile", "followerList")
WRITE_OPERATIONS = ("createPost", "deletePost", "follow", "unfollow")
# The original study: 25 minutes steady, then 5 of burst. The default time scale runs each
# cell's phases in 1/60 of that.
ORIGINAL_STEADY_SECONDS, ORIGINAL_BURST_SECONDS = 25 * 60, 5 * 60
DRAIN_TIMEOUT_SECONDS = 180.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class StudyPlan:
    out: Path
    sizes: tuple[int, ...] = (5_000, 25_000)
    strategies: tuple[Strategy, ...] = STRATEGIES
    caches: tuple[bool, ...] = (True, False)
    concurrency: float = 0.5  # the share of users active at once (the original: 20/50/80%)
    # simulated users = users × concurrency × active_scale: at 25K users the steady phase uses
    # about half of what one server process serves, and the burst saturates it
    active_scale: float = 1 / 400
    time_scale: float = 1 / 60
    warmup_seconds: float = 8.0
    burst_factor: float = 3.0
    think_seconds: float = 1.0
    # None: the fitted celebrity tier's lowest follower count, so hybrid pushes regular users
    # and influencers and pulls celebrities and the star, as in the original study
    hybrid_threshold: int | None = None
    seed: int = 7
    history_days: float = 1.0
    mean_degree: float = 35.0
    consistency_rounds: int = 6
    timeline_max: int = 800

    @property
    def steady_seconds(self) -> float:
        return ORIGINAL_STEADY_SECONDS * self.time_scale

    @property
    def burst_seconds(self) -> float:
        return ORIGINAL_BURST_SECONDS * self.time_scale

    def simulated_users(self, users: int) -> int:
        return max(2, round(users * self.concurrency * self.active_scale))

    def shape(self, users: int) -> LoadShape:
        return LoadShape(
            simulated_users=self.simulated_users(users),
            warmup_seconds=self.warmup_seconds,
            steady_seconds=self.steady_seconds,
            burst_seconds=self.burst_seconds,
            burst_factor=self.burst_factor,
            think_seconds=self.think_seconds,
        )


@dataclass(frozen=True)
class Cell:
    strategy: Strategy
    users: int
    cache: bool

    @property
    def name(self) -> str:
        return f"{self.strategy.value}-{self.users}-{'cache' if self.cache else 'nocache'}"


@dataclass
class Costs:
    """The cost model's weights: seconds of store work per push delivery and per author
    merged into a pull read, measured in this run (None until the push and pull cells ran)."""

    push_cost: float | None = None
    pull_cost: float | None = None
    how: str = ""

    def env(self) -> dict[str, str]:
        env = {}
        if self.push_cost is not None:
            env["MURMUR_COST_MODEL__PUSH_COST"] = f"{self.push_cost:.3e}"
        if self.pull_cost is not None:
            env["MURMUR_COST_MODEL__PULL_COST"] = f"{self.pull_cost:.3e}"
        return env


@dataclass
class Templates:
    """One loaded store per (size, delivery plan), copied for each cell that uses it."""

    root: Path
    worlds: dict[int, World] = field(default_factory=dict)
    loads: dict[tuple[int, str], LoadReport] = field(default_factory=dict)

    def world(self, plan: StudyPlan, users: int) -> World:
        if users not in self.worlds:
            self.worlds[users] = generate(
                GraphSpec(
                    users=users, seed=plan.seed, mean_degree=plan.mean_degree, history_days=plan.history_days
                )
            )
        return self.worlds[users]

    async def database(self, plan: StudyPlan, users: int, strategy: Strategy) -> Path:
        # the cost model starts from the threshold rule: its history is hybrid's
        key = Strategy.HYBRID if strategy is Strategy.COST_MODEL else strategy
        data_dir = self.root / f"{users}-{key.value}"
        if (users, key.value) not in self.loads:
            shutil.rmtree(data_dir, ignore_errors=True)
            world = self.world(plan, users)
            settings = Settings(data_dir=data_dir, **cell_settings_values(plan, key, world))
            self.loads[(users, key.value)] = await load_world(world, settings, lambda _phase, _rows: None)
            write_personas(world, self.personas(users), self.loads[(users, key.value)])
        return data_dir / "murmur.db"

    def personas(self, users: int) -> Path:
        return self.root / f"personas-{users}.json"

    def personas_for(self, plan: StudyPlan, users: int) -> None:
        """Write the personas file if no load has (the cloud cells load elsewhere)."""
        if not self.personas(users).exists():
            self.root.mkdir(parents=True, exist_ok=True)
            write_personas(self.world(plan, users), self.personas(users))


def threshold(plan: StudyPlan, world: World) -> int:
    if plan.hybrid_threshold is not None:
        return plan.hybrid_threshold
    celebrity = next(r for r in world.fit.ranges if r.tier is Tier.CELEBRITY)
    return celebrity.low - 1


def cell_settings_values(plan: StudyPlan, strategy: Strategy, world: World) -> dict[str, Any]:
    """What loading a cell's store needs: its strategy decides the deliveries of the history."""
    return {
        "fanout": strategy,
        "hybrid_threshold": threshold(plan, world),
        "timeline_max": plan.timeline_max,
        "seed": {"enabled": False, "demo_password": PASSWORD},
    }


def cell_env(plan: StudyPlan, cell: Cell, costs: Costs, world: World) -> dict[str, str]:
    return study_env(
        {
            "MURMUR_FANOUT": cell.strategy.value,
            "MURMUR_HYBRID_THRESHOLD": str(threshold(plan, world)),
            "MURMUR_TIMELINE_MAX": str(plan.timeline_max),
            "MURMUR_STORES__CACHE": "memory" if cell.cache else "none",
            "MURMUR_RATE_LIMIT__ENABLED": "false",  # the load is the point here
            "MURMUR_SEED__ENABLED": "false",
            # the cost model's rates forget over the length of a warm-up
            "MURMUR_COST_MODEL__HALF_LIFE_SECONDS": str(plan.warmup_seconds),
            **costs.env(),
        }
    )


def fresh_copy(template: Path, data_dir: Path) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    shutil.copyfile(template, data_dir / "murmur.db")


async def run_cell(
    plan: StudyPlan, cell: Cell, templates: Templates, costs: Costs, say: Say, servers: Any = None
) -> dict[str, Any]:
    """One cell on a fresh store: embedded (a copy of the template file), or on the cloud
    stand-ins `servers` (stores of its own, loaded through their bulk methods)."""
    workdir = plan.out / "cells" / cell.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    world = templates.world(plan, cell.users)
    say(f"{cell.name}: loading the store")
    started_ms = int(time.time() * 1000)
    deployment = await fresh_deployment(plan, cell.strategy, cell.users, templates, workdir, servers)
    shape = plan.shape(cell.users)
    try:
        deployment.start(cell_env(plan, cell, costs, world))
        say(f"{cell.name}: {shape.simulated_users} simulated users, warm-up")
        with UsageSampler() as sampler:
            for name, pid in deployment.processes().items():
                sampler.watch(name, pid)
            locust, marker = start_locust(
                deployment.url, workdir, shape, templates.personas(cell.users), PASSWORD, study_env({})
            )
            sampler.watch("locust", locust.pid)
            if not wait_for(marker, locust, timeout=shape.warmup_seconds + 60):
                raise locust.failed()
            before = deployment.metrics()
            say(
                f"{cell.name}: measuring ({shape.steady_seconds:.0f} s steady, {shape.burst_seconds:.0f} s burst)"
            )
            locust.popen.wait(timeout=shape.seconds + 120)
            load_ended = deployment.metrics()
            say(f"{cell.name}: waiting for fan-out to drain")
            drain_seconds = wait_drained(deployment.metrics)
            after = deployment.metrics()
    finally:
        deployment.stop()
    usage = {name: u.summary() for name, u in sampler.usage.items()}
    result = summarise(cell, shape, workdir, after.minus(before), load_ended.minus(before), usage)
    result["drain_seconds"] = drain_seconds
    result["storage"] = deployment.storage()
    result["new_posts"] = deployment.new_posts(since_ms=started_ms)
    return result


async def fresh_deployment(
    plan: StudyPlan, strategy: Strategy, users: int, templates: Templates, workdir: Path, servers: Any
) -> Deployment:
    """A store holding the generated world for this strategy: a copy of the template file
    (embedded), or stores of its own on the stand-ins `servers`, loaded in bulk (cloud)."""
    if servers is None:
        data_dir = workdir / "data"
        fresh_copy(await templates.database(plan, users, strategy), data_dir)
        return EmbeddedDeployment(workdir, data_dir)
    world = templates.world(plan, users)
    deployment = CloudDeployment(workdir, servers)
    await deployment.load(world, **cell_settings_values(plan, strategy, world))
    templates.personas_for(plan, users)
    return deployment


def wait_drained(metrics: Callable[[], Snapshot]) -> float:
    """Seconds until the fan-out queue is empty twice in a row (the worker pool reports
    the depth about once a second); DRAIN_TIMEOUT_SECONDS at most."""
    started = time.monotonic()
    empty = 0
    while time.monotonic() - started < DRAIN_TIMEOUT_SECONDS:
        depth = metrics().by_label("murmur_queue_depth", "state")
        backlog = depth.get(("visible",), 0.0) + depth.get(("in_flight",), 0.0)
        empty = empty + 1 if backlog == 0 else 0
        if empty >= 2:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def summarise(
    cell: Cell,
    shape: LoadShape,
    workdir: Path,
    measured: Snapshot,
    during_load: Snapshot,
    usage: dict[str, dict[str, float]],
) -> dict[str, Any]:
    stats = read_stats(workdir)
    history = read_history(workdir)
    requests: dict[str, dict[str, Any]] = {
        name.removeprefix("op:"): {
            "type": s.kind,
            "count": s.count,
            "failures": s.failures,
            "mean_ms": s.mean_ms,
            "rps": s.rps,
            "percentiles_ms": s.percentiles_ms,
        }
        for name, s in stats.items()
        if name != "Aggregated"
    }
    reads = sum(int(requests[op]["count"]) for op in READ_OPERATIONS if op in requests)
    writes = sum(int(requests[op]["count"]) for op in WRITE_OPERATIONS if op in requests)
    http_requests = sum(int(r["count"]) for r in requests.values() if r["type"] == "POST")
    operations = measured.by_label("murmur_store_operations_total", "store", "operation")
    total_operations = sum(operations.values())
    lag = measured.histogram("murmur_fanout_lag_seconds")
    delivery = measured.histogram("murmur_delivery_lag_seconds")
    chunk = measured.histogram("murmur_fanout_chunk_seconds")
    deliveries = measured.total("murmur_fanout_deliveries_total")
    server_latency = {}
    for operation in ("homeTimeline", "createPost"):
        histogram = measured.histogram("murmur_graphql_request_duration_seconds", operation=operation)
        server_latency[operation] = {
            "count": histogram.count,
            "mean_ms": (histogram.mean or 0.0) * 1000,
            "p50_ms": (histogram.quantile(0.5) or 0.0) * 1000,
            "p99_ms": (histogram.quantile(0.99) or 0.0) * 1000,
        }
    steady_rps = [row["rps"] for row in history if row["users"] and row["users"] <= shape.simulated_users + 1]
    burst_rps = [row["rps"] for row in history if row["users"] > shape.simulated_users + 1]
    aggregated = stats.get("Aggregated")
    return {
        "cell": {
            "strategy": cell.strategy.value,
            "users": cell.users,
            "cache": cell.cache,
            "name": cell.name,
        },
        "shape": asdict(shape),
        "requests": requests,
        "reads": reads,
        "writes": writes,
        "read_write_ratio": reads / writes if writes else None,
        "http_requests": http_requests,
        "failures": sum(r["failures"] for r in requests.values()),
        "failure_samples": read_failures(workdir)[:10],
        "throughput": {
            "rps": aggregated.rps if aggregated else 0.0,
            "steady_rps": _mean(steady_rps[1:]),  # the first sample is the ramp
            "burst_rps": _mean(burst_rps[1:]),
            "peak_users": max((row["users"] for row in history), default=0),
        },
        "history": history,
        "store_operations": {
            f"{store}.{operation}": count for (store, operation), count in operations.items() if count
        },
        "store_operations_per_request": total_operations / http_requests if http_requests else None,
        "fanout": {
            "completion_ms": _quantiles(lag),
            "delivery_ms": _quantiles(delivery),
            "deliveries": deliveries,
            "chunk_seconds": chunk.sum,
            "seconds_per_delivery": chunk.sum / deliveries if deliveries else None,
            "posts_completed": lag.count,
            "completed_during_load": during_load.histogram("murmur_fanout_lag_seconds").count,
        },
        "server_latency": server_latency,
        "processes": usage,
    }


def _quantiles(histogram: Any) -> dict[str, float | None]:
    def ms(q: float) -> float | None:
        value = histogram.quantile(q)
        return None if value is None else value * 1000

    return {"count": histogram.count, "p50": ms(0.5), "p95": ms(0.95), "p99": ms(0.99)}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def measure_costs(cells: Sequence[dict[str, Any]], world: World) -> Costs:
    """The cost model's weights from the push and pull cells of one size, cache on: a push
    delivery costs the fan-out's busy seconds per delivery; a pulled author costs the pull
    cell's mean server time of a home-timeline read per author it merges (the reader and
    everyone they follow). Both include their fixed overheads, so both are upper bounds;
    a difference of the two strategies' read times would be cleaner in theory, but push's
    reads share the process with its fan-out, which made it negative here."""
    by_strategy = {c["cell"]["strategy"]: c for c in cells if c["cell"]["cache"]}
    push, pull = by_strategy.get("push"), by_strategy.get("pull")
    costs = Costs()
    if push is None or pull is None:
        return costs
    costs.push_cost = push["fanout"]["seconds_per_delivery"]
    sources = 1 + world.edges / world.users
    read_ms = pull["server_latency"]["homeTimeline"]["mean_ms"]
    costs.pull_cost = read_ms / 1000 / sources
    costs.how = (
        f"push: {push['fanout']['chunk_seconds']:.2f} s of fan-out for {push['fanout']['deliveries']:.0f} deliveries; "
        f"pull: {read_ms:.2f} ms per home-timeline read (server side), over {sources:.1f} authors per read"
    )
    return costs


def graph_summary(world: World, load: LoadReport | None) -> dict[str, Any]:
    return {
        "users": world.users,
        "edges": world.edges,
        "posts": world.posts,
        "mean_degree": world.edges / world.users,
        "fit": {
            "top": world.fit.top,
            "ranges": [{"tier": r.tier.value, "low": r.low, "high": r.high} for r in world.fit.ranges],
        },
        "tiers": tier_summary(world),
        "follower_following_correlation": world.follower_following_correlation(),
        "load": None if load is None else {**asdict(load), "edges_per_second": load.edges_per_second},
    }
