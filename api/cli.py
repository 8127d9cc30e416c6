"""The `murmur` command: serve the API, run fan-out workers, maintain timelines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from murmur.settings import Settings, Strategy

app = typer.Typer(help="Murmur: social timelines over GraphQL.", no_args_is_help=True, add_completion=False)

DataDir = Annotated[
    Path | None, typer.Option(help="Where the SQLite file lives (embedded profile). [env: MURMUR_DATA_DIR]")
]
StrategyOption = Annotated[
    Strategy | None, typer.Option("--strategy", help="Fan-out strategy. [env: MURMUR_FANOUT]")
]


def build_settings(*, _model: type[Settings] = Settings, **overrides: Any) -> Settings:
    """Environment first, then the options given on the command line."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return _model(**given)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind. [env: MURMUR_API__HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind. [env: MURMUR_API__PORT]")] = None,
    data_dir: DataDir = None,
    strategy: StrategyOption = None,
    no_seed: Annotated[
        bool, typer.Option("--no-seed", help="Do not seed a demo world on first start.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="Fan-out workers inside the API process. [env: MURMUR_WORKERS__IN_PROCESS]"),
    ] = None,
) -> None:
    """Serve the GraphQL API (GraphiQL at /graphql), with fan-out workers in-process."""
    import uvicorn

    from api.app import create_app

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
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_level="info",
        access_log=False,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        # the HTTP body limit does not cover websocket frames
        ws_max_size=settings.api.max_body_bytes,
    )


@app.command()
def worker(
    data_dir: DataDir = None,
    strategy: StrategyOption = None,
    concurrency: Annotated[int, typer.Option(help="Consumers in this process.")] = 2,
    http_port: Annotated[
        int | None,
        typer.Option(
            help="Port of /healthz, /readyz and /metrics (0: any free one). [env: MURMUR_WORKERS__HTTP_PORT]"
        ),
    ] = None,
) -> None:
    """Run fan-out consumers (and the outbox relay) until SIGTERM or Ctrl-C.

    On SIGTERM it stops taking messages, lets those in hand finish within
    MURMUR_WORKERS__SHUTDOWN_GRACE_SECONDS, releases the rest to other workers and exits 0.
    It needs no JWT secret: it never signs or checks a token.
    """
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
            log.info("stopped")

    asyncio.run(run())


@app.command()
def init() -> None:
    """Create what the configured stores need if it is missing (tables, queues, indexes); idempotent."""
    from murmur.storage.factory import open_backends

    _logging()
    settings = build_settings(create_missing=True)

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
    app()


if __name__ == "__main__":
    main()
