"""What `murmur generate` and `murmur experiment` run (their options: api/study_cli.py).

numpy, Locust and matplotlib come with the `study` extra, so they are imported when a
command runs, never when `murmur` starts.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadtest.graph import GraphSpec, World
    from loadtest.load import LoadReport
    from murmur.settings import Settings


def run_generate(spec: GraphSpec, settings: Settings, personas: Path | None) -> None:
    """Generate the world, load it into the configured stores and write the personas file."""
    from loadtest.load import write_personas

    world, report, seconds = generate_and_load(spec, settings, show_progress=True)
    target = personas or settings.data_dir / "personas.json"
    write_personas(world, target, report)
    _print_summary(world, report, seconds, target)


def generate_and_load(
    spec: GraphSpec, settings: Settings, *, show_progress: bool
) -> tuple[World, LoadReport, float]:
    """Generate the world and load it, with a progress display; returns the total seconds."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from loadtest.graph import generate
    from loadtest.load import load_world, materialises

    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
        transient=False,
    ) as progress:
        generating = progress.add_task("generate", total=1)
        world = generate(spec)
        progress.update(generating, completed=1)
        totals = {"users": world.users, "follows": world.edges, "posts": world.posts}
        tasks = {name: progress.add_task(name, total=total) for name, total in totals.items()}
        if materialises(settings.fanout):
            tasks["timelines"] = progress.add_task("timelines", total=None)

        def advance(phase: str, rows: int) -> None:
            progress.advance(tasks[phase], rows)

        report = asyncio.run(load_world(world, settings, advance))
        if "timelines" in tasks:
            progress.update(
                tasks["timelines"], total=report.timeline_entries, completed=report.timeline_entries
            )
    return world, report, time.perf_counter() - started


def _print_summary(world: World, report: LoadReport, seconds: float, personas: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from loadtest.load import tier_summary

    console = Console()
    table = Table(title=f"{world.users:,} users, {world.edges:,} follows, {world.posts:,} posts")
    for column in ("tier", "users", "followers (median)", "followers (max)", "following (mean)", "posts"):
        table.add_column(column, justify="right")
    for tier, row in tier_summary(world).items():
        table.add_row(
            tier,
            f"{row['users']:,}",
            f"{row['followers_median']:,.0f}",
            f"{row['followers_max']:,}",
            f"{row['following_mean']:.1f}",
            f"{row['posts']:,}",
        )
    console.print(table)
    ranges = ", ".join(f"{r.tier.value} {r.low:,}–{r.high:,}" for r in world.fit.ranges)
    fitted = (
        "literal" if world.fit.top >= 500_000 else f"fitted to a mean degree of {world.spec.mean_degree:g}"
    )
    console.print(f"follower ranges ({fitted}): {ranges}")
    console.print(f"follower/following rank correlation: {world.follower_following_correlation():.2f}")
    phases = ", ".join(f"{name} {value:.1f} s" for name, value in report.seconds.items())
    console.print(
        f"loaded through {report.path} in {report.total_seconds:.1f} s ({phases}); "
        f"{report.edges_per_second:,.0f} edges/s; {report.timeline_entries:,} timeline entries; "
        f"{seconds:.1f} s with generation"
    )
    console.print(f"personas: {personas}")
