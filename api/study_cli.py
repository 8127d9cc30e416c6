"""The study's commands on `murmur`: `generate` (a tiered social graph, loaded in bulk) and
`experiment` (the fan-out study). They need the `study` extra (numpy, Locust, matplotlib):
`pip install 'murmur[study]'`; `make` installs it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli import build_settings

if TYPE_CHECKING:
    from loadtest.experiment import StudyPlan


def _require_study_extra() -> None:
    try:
        import locust  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as missing:
        typer.echo(
            f"murmur: this command needs the 'study' extra ({missing.name} is missing): "
            "pip install 'murmur[study]'",
            err=True,
        )
        raise typer.Exit(2) from None


def generate(
    users: Annotated[int, typer.Option(help="Users to generate.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same world.")] = 7,
    mean_degree: Annotated[
        float, typer.Option(help="Fit the tiers' follower ranges to about this many follows per user.")
    ] = 35.0,
    literal: Annotated[
        bool,
        typer.Option("--literal", help="Keep the tiers' follower ranges as written (capped at users - 1)."),
    ] = False,
    history_days: Annotated[float, typer.Option(help="Days of posting history.")] = 3.0,
    no_star: Annotated[
        bool, typer.Option("--no-star", help="Leave out the account everyone follows.")
    ] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite file goes (embedded).")] = None,
    personas: Annotated[
        Path | None,
        typer.Option(help="Where to write the personas file [default: DATA_DIR/personas.json]."),
    ] = None,
) -> None:
    """Generate a tiered social graph with a posting history and load it, in bulk, into
    fresh stores: the configured ones (MURMUR_PROFILE, MURMUR_STORES__*, MURMUR_FANOUT)."""
    _require_study_extra()
    from loadtest.commands import run_generate
    from loadtest.graph import GraphSpec

    settings = build_settings(data_dir=data_dir)
    if (problem := settings.demo_password_problem()) is not None:  # every persona gets it
        typer.echo(f"murmur: {problem}", err=True)
        raise typer.Exit(2)
    try:
        spec = GraphSpec(
            users=users,
            seed=seed,
            mean_degree=mean_degree,
            literal=literal,
            history_days=history_days,
            star=not no_star,
        )
    except ValueError as exc:
        typer.echo(f"murmur: {exc}", err=True)
        raise typer.Exit(2) from None
    from loadtest.load import StoreNotEmpty

    try:
        run_generate(spec, settings, personas)
    except StoreNotEmpty as exc:
        typer.echo(f"murmur: {exc}", err=True)
        raise typer.Exit(1) from None


def experiment(
    out: Annotated[Path, typer.Option(help="Where the results, the JSON and the report go.")] = Path(
        "study-results"
    ),
    sizes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated graph sizes (users) [default: 5000,25000; with --cloud 300,1000]."
        ),
    ] = None,
    with_100k: Annotated[bool, typer.Option("--with-100k", help="Add 100,000 users to the sizes.")] = False,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies: push, pull, hybrid, cost-model.")
    ] = "push,pull,hybrid,cost-model",
    no_cache_off: Annotated[
        bool, typer.Option("--no-cache-off", help="Run every cell with the cache on only.")
    ] = False,
    concurrency: Annotated[
        float, typer.Option(help="Share of users active at once (the original: 0.2, 0.5, 0.8).")
    ] = 0.5,
    time_scale: Annotated[
        float, typer.Option(help="The original's 25 min steady + 5 min burst, times this.")
    ] = 1 / 60,
    smoke: Annotated[
        bool, typer.Option("--smoke", help="A tiny graph and a few seconds per cell: checks the pipeline.")
    ] = False,
    cloud: Annotated[
        bool,
        typer.Option(
            "--cloud",
            help="Run on the cloud profile's local stand-ins (as `make stack`: MongoDB, Neptune's, "
            "DynamoDB and SQS in moto, Redis), an API and a worker process per cell. Needs a checkout.",
        ),
    ] = False,
) -> None:
    """Run the fan-out study (push, pull, hybrid, cost-model × sizes × cache on/off) on the
    embedded shape and write study.json and a self-contained report.html."""
    _require_study_extra()
    import asyncio

    from rich.console import Console

    from loadtest.experiment import StudyPlan
    from loadtest.study import cells_in_order, run_study
    from murmur.settings import Strategy

    try:
        chosen = tuple(Strategy(s.strip()) for s in strategies.split(",") if s.strip())
        given = sizes or ("300,1000" if cloud else "5000,25000")  # a cloud cell loads its own stores, slowly
        graph_sizes = tuple(int(s) for s in given.split(",") if s.strip()) + ((100_000,) if with_100k else ())
    except ValueError as exc:
        typer.echo(f"murmur: {exc}", err=True)
        raise typer.Exit(2) from None
    plan = StudyPlan(
        out=out,
        sizes=tuple(sorted(set(graph_sizes))),
        strategies=chosen,
        caches=(True,) if no_cache_off else (True, False),
        concurrency=concurrency,
        time_scale=time_scale,
    )
    if smoke:
        plan = smoke_plan(plan)
    console = Console()
    cells = cells_in_order(plan)
    console.print(
        f"{len(cells)} cells; simulated users = users × {plan.concurrency:g} × {plan.active_scale:.4f} "
        f"({', '.join(f'{n:,} users: {plan.simulated_users(n)}' for n in plan.sizes)}); "
        f"{plan.warmup_seconds:g} s warm-up, {plan.steady_seconds:g} s steady, {plan.burst_seconds:g} s burst per cell"
    )
    done = [0]
    with console.status("starting") as status:

        def say(message: str) -> None:
            status.update(f"[{done[0]}/{len(cells)} cells] {message}")
            console.log(message)

        def cell_done(_cell: object) -> None:
            done[0] += 1

        study = asyncio.run(run_study(plan, say, cell_done=cell_done, cloud=cloud))
    for finding in study["findings"]:
        console.print(f"[bold]{finding['original']}[/bold] {finding['verdict']}: {finding['evidence']}")
    console.print(f"report: {out / 'report.html'}; data: {out / 'study.json'}")


def smoke_plan(plan: StudyPlan) -> StudyPlan:
    """A tiny graph, a few seconds per cell: the whole pipeline in about a minute."""
    from dataclasses import replace

    return replace(
        plan,
        sizes=(300,),
        caches=(True,),
        active_scale=0.02,
        time_scale=4 / 1500,
        warmup_seconds=2.0,
        think_seconds=0.2,
        consistency_rounds=2,
    )


def register(app: typer.Typer) -> None:
    """Add the study's commands to `murmur`."""
    app.command()(generate)
    app.command()(experiment)
