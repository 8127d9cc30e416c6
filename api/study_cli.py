"""The study's commands on `murmur`: `generate` (a tiered social graph, loaded in bulk) and
`experiment` (the fan-out study). They need the `study` extra (numpy, Locust, matplotlib):
`pip install 'murmur[study]'`; `make` installs it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli import app, build_settings


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


@app.command()
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
    run_generate(spec, settings, personas)
