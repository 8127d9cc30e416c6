"""The `murmur` command: serve the API, run fan-out workers, maintain timelines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from api.settings_errors import describe, variable
from murmur.settings import Settings, Strategy, unknown_variables

app = typer.Typer(
    help="Murmur: social timelines over GraphQL.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help: "[env: ...]" stays visible and flags show as flags
)


def _help(text: str, field: str) -> str:
    """An option's help with the MURMUR_* variable it stands for and its default."""
    model: Any = Settings
    *groups, name = field.split(".")
    for group in groups:
        model = model.model_fields[group].annotation
    default = model.model_fields[name].default
    shown = default.value if isinstance(default, Strategy) else default
    return f"{text} [env: {variable(field.split('.'))}; default: {shown}]"


DataDir = Annotated[
    Path | None, typer.Option(help=_help("Where the SQLite file lives (embedded profile).", "data_dir"))
]
StrategyOption = Annotated[
    Strategy | None, typer.Option("--strategy", help=_help("Fan-out strategy.", "fanout"))
]


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"murmur {version('murmur')}")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool,
        typer.Option("--version", help="Show Murmur's version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    """Murmur: social timelines over GraphQL. Every setting is a MURMUR_* variable (README)."""


def build_settings(*, _model: type[Settings] = Settings, **overrides: Any) -> Settings:
    """Environment first, then the options given on the command line. A mistake is one line
    per setting on stderr and exit code 2, as for a bad command-line flag. A MURMUR_*
    variable that nothing reads (a misspelling) is one line on stderr, and no error."""
    for line in unknown_variables(os.environ, _model):
        typer.echo(f"murmur: {line}", err=True)
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return _model(**given)
    except ValidationError as exc:
        for line in describe(exc):
            typer.echo(f"murmur: {line}", err=True)
        raise typer.Exit(2) from None


def require_stores(settings: Settings) -> None:
    """Exit with one line per store that cannot be reached, before opening anything."""
    from api.preflight import unreachable

    problems = asyncio.run(unreachable(settings))
    for line in problems:
        typer.echo(f"murmur: {line}", err=True)
    if problems:
        raise typer.Exit(1)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help=_help("Address to bind.", "api.host"))] = None,
    port: Annotated[int | None, typer.Option(help=_help("Port to bind.", "api.port"))] = None,
    data_dir: DataDir = None,
    strategy: StrategyOption = None,
    no_seed: Annotated[
        bool,
        typer.Option(
            "--no-seed", help="Do not seed a demo world on first start. [env: MURMUR_SEED__ENABLED=false]"
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help=_help("Fan-out workers inside the API process.", "workers.in_process")),
    ] = None,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql), with fan-out workers in-process."""
    import uvicorn

    from api.app import create_app
    from api.server import unavailable_ports, uvicorn_config
    from murmur.cache_owner import claim_cache

    _logging()
    api: dict[str, Any] = {
        key: value for key, value in {"host": host, "port": port}.items() if value is not None
    }
    settings = build_settings(
        data_dir=data_dir,
        fanout=strategy,
        api=api or None,
        seed={"enabled": False} if no_seed else None,
        workers={"in_process": workers} if workers is not None else None,
    )
    # before anything starts (workers, seeding, the data dir): a second `make run` stops here
    busy = unavailable_ports(settings)
    for line in busy:
        typer.echo(f"murmur: {line}", err=True)
    if busy:
        raise typer.Exit(1)
    claim = claim_cache(settings)  # held until the process ends
    for said in (claim.refusal, claim.warning):
        if said is not None:
            typer.echo(f"murmur: {said}", err=True)
    if claim.refusal is not None:
        raise typer.Exit(1)
    require_stores(settings)
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises a Ctrl-C once stopped
        server.run()
    if not server.started:  # as uvicorn.run: a failed start (port taken, ...) is exit 3
        raise typer.Exit(3)


@app.command()
def worker(
    data_dir: DataDir = None,
    strategy: StrategyOption = None,
    concurrency: Annotated[int, typer.Option(help="Consumers in this process.", show_default=True)] = 2,
    http_port: Annotated[
        int | None,
        typer.Option(
            help=_help("Port of /healthz, /readyz and /metrics (0: any free one).", "workers.http_port")
        ),
    ] = None,
) -> None:
    """Run fan-out consumers (and the outbox relay) until SIGTERM or Ctrl-C.

    On SIGTERM it stops taking messages, lets those in hand finish within
    MURMUR_WORKERS__SHUTDOWN_GRACE_SECONDS, releases the rest to other workers and exits 0.
    It needs no JWT secret: it never signs or checks a token.
    """
    from murmur.metrics import queue_message_counts
    from murmur.platform import open_platform
    from murmur.settings import FanoutWorkerSettings
    from workers.pool import WorkerPool
    from workers.probes import Probes, serving

    _logging()
    log = logging.getLogger("murmur.worker")
    workers = {"http_port": http_port} if http_port is not None else None
    settings = build_settings(
        data_dir=data_dir, fanout=strategy, workers=workers, _model=FanoutWorkerSettings
    )
    if settings.resolved_stores.bus == "local":
        typer.echo(
            "murmur: the live events of fan-outs this worker completes stay in this process "
            "(MURMUR_STORES__BUS=local): the API's subscribers get them only with a shared bus "
            "(MURMUR_STORES__BUS=redis)",
            err=True,
        )
    require_stores(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with (
            open_platform(settings, serves_api=False) as platform,
            contextlib.AsyncExitStack() as stack,
        ):
            pool = WorkerPool(platform, workers=concurrency)
            port = settings.workers.http_port
            if port is not None:
                probes = Probes(ready=lambda: pool.healthy)
                bound = stack.enter_context(serving(probes, host=settings.workers.http_host, port=port))
                beating = asyncio.create_task(probes.heartbeat(), name="probe-heartbeat")
                stack.callback(beating.cancel)
                log.info(
                    "worker probes on http://%s:%d (/healthz, /readyz, /metrics)",
                    settings.workers.http_host,
                    bound,
                )
            await pool.start()
            log.info("%d fan-out consumers running", concurrency)
            await stop.wait()
            log.info("stopping: finishing the messages in hand, releasing the rest")
            await pool.stop()
            totals = queue_message_counts()
            # one line a log scraper (or devstack's autoscale runner) can read
            log.info(
                "stopped: done=%d released=%d retried=%d dead_lettered=%d redelivered=%d cut_off=%d",
                *(totals.get(k, 0) for k in ("done", "released", "retried", "dead_lettered", "redelivered")),
                pool.cut_off,
            )

    asyncio.run(run())


@app.command()
def init() -> None:
    """Create what the configured stores need if it is missing (tables, queues, indexes); idempotent."""
    from murmur.storage.factory import open_backends

    _logging()
    settings = build_settings(create_missing=True)
    require_stores(settings)

    async def run() -> dict[str, bool]:
        backends = await open_backends(settings)
        try:
            return await backends.ping()
        finally:
            await backends.close()

    answers = asyncio.run(run())
    for store, technology in settings.resolved_stores.model_dump().items():
        typer.echo(f"{store:10} {technology}")
    for resource, ok in answers.items():
        typer.echo(f"{resource:24} {'ready' if ok else 'NOT ANSWERING'}")
    if not all(answers.values()):
        raise typer.Exit(1)


def main() -> None:
    from api.study_cli import register

    register(app)
    app()


if __name__ == "__main__":
    main()
