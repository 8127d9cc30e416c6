"""Where a study cell runs: the embedded shape (one `murmur serve`, one SQLite file) or the
cloud shape on its local stand-ins (`murmur serve` and `murmur worker` over MongoDB,
Neptune's stand-in, DynamoDB and SQS in moto, and Redis), with stores of its own."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from loadtest.graph import World
from loadtest.load import load_world
from loadtest.processes import HOST, MurmurServer, free_port
from loadtest.scrape import Snapshot, scrape
from murmur.settings import Settings


class Deployment(Protocol):
    profile: str

    @property
    def url(self) -> str: ...

    def start(self, env: Mapping[str, str]) -> None:
        """Start Murmur with the cell's settings (MURMUR_* in env) and wait until it serves."""

    def processes(self) -> dict[str, int]:
        """Name → pid of every Murmur process, for CPU and memory."""

    def metrics(self) -> Snapshot:
        """Every Murmur process's /metrics, summed."""

    def storage(self) -> dict[str, float]:
        """Timeline entries and bytes, as the store reports them."""

    def new_posts(self, *, since_ms: int) -> dict[str, int] | None:
        """Posts written since then, by delivery (pushed, pulled); None where not counted."""

    def stop(self) -> None: ...


class EmbeddedDeployment:
    """A copy of the template SQLite file and `murmur serve` with in-process workers."""

    profile = "embedded"

    def __init__(self, workdir: Path, data_dir: Path) -> None:
        self._workdir = workdir
        self._data_dir = data_dir
        self._server: MurmurServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def start(self, env: Mapping[str, str]) -> None:
        self._server = MurmurServer(self._workdir, {**env, "MURMUR_DATA_DIR": str(self._data_dir)})
        self._server.wait_ready()

    def processes(self) -> dict[str, int]:
        return {"murmur": self._server.child.pid} if self._server else {}

    def metrics(self) -> Snapshot:
        return scrape(f"{self.url}/metrics")

    def storage(self) -> dict[str, float]:
        db = self._data_dir / "murmur.db"
        with sqlite3.connect(db) as connection:
            entries = connection.execute("SELECT count(*) FROM timelines").fetchone()[0]
            table_bytes = connection.execute(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ('timelines', 'timeline_floors')"
            ).fetchone()[0]
        return {"timeline_entries": entries, "timeline_bytes": table_bytes, "file_bytes": db.stat().st_size}

    def new_posts(self, *, since_ms: int) -> dict[str, int] | None:
        with sqlite3.connect(self._data_dir / "murmur.db") as connection:
            rows = connection.execute(
                "SELECT delivery, count(*) FROM posts WHERE created_at >= ? GROUP BY delivery", (since_ms,)
            ).fetchall()
        return {"pushed": 0, "pulled": 0, **{str(delivery): int(count) for delivery, count in rows}}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


class CloudDeployment:
    """Fresh stores on the stand-ins (unique database, table and queues), loaded through the
    stores' bulk methods, then an API process and a worker process, as on Kubernetes."""

    profile = "cloud"

    def __init__(self, workdir: Path, servers: Any) -> None:
        from devstack.cloud import StoreNames, cloud_env, new_jwt_secret

        self._workdir = workdir
        self.env = cloud_env(servers, jwt_secret=new_jwt_secret(), names=StoreNames.unique())
        self._processes: Any = None

    def settings(self, **overrides: Any) -> Settings:
        """Settings for loading these stores from this process (the AWS clients read their
        credentials from the environment: moto's dummies)."""
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ[key] = self.env[key]
        e = self.env
        return Settings(
            profile="cloud",
            mongo={"uri": e["MURMUR_MONGO__URI"], "database": e["MURMUR_MONGO__DATABASE"]},
            neptune={"uri": e["MURMUR_NEPTUNE__URI"]},
            aws={
                "endpoint_url": e["MURMUR_AWS__ENDPOINT_URL"],
                "region": e["MURMUR_AWS__REGION"],
                "timelines_table": e["MURMUR_AWS__TIMELINES_TABLE"],
                "fanout_queue": e["MURMUR_AWS__FANOUT_QUEUE"],
                "fanout_bulk_queue": e["MURMUR_AWS__FANOUT_BULK_QUEUE"],
                "fanout_dead_letter_queue": e["MURMUR_AWS__FANOUT_DEAD_LETTER_QUEUE"],
            },
            redis={"url": e["MURMUR_REDIS__URL"]},
            auth={"jwt_secret": e["MURMUR_AUTH__JWT_SECRET"]},
            **overrides,
        )

    async def load(self, world: World, **overrides: Any) -> Any:
        return await load_world(world, self.settings(**overrides), lambda _phase, _rows: None)

    @property
    def url(self) -> str:
        return str(self._processes.base(""))

    def start(self, env: Mapping[str, str]) -> None:
        from devstack.cloud import MurmurProcesses

        worker_port = free_port()
        self._processes = MurmurProcesses(
            {**env, **self.env}, self._workdir, port=free_port(), worker_ports=[worker_port]
        )
        self._processes.start()
        self._processes.wait_ready(120)

    def processes(self) -> dict[str, int]:
        if self._processes is None:
            return {}
        found = {"murmur-api": self._processes.api.popen.pid}
        for index, worker in enumerate(self._processes.workers):
            found[f"murmur-worker-{index}"] = worker.popen.pid
        return found

    def metrics(self) -> Snapshot:
        ports = [self._processes.port, *self._processes.worker_ports]
        snapshots = [scrape(f"http://{HOST}:{port}/metrics") for port in ports]
        return Snapshot.sum(snapshots)

    def storage(self) -> dict[str, float]:
        import boto3  # type: ignore[import-untyped]

        client = boto3.client(
            "dynamodb",
            endpoint_url=self.env["MURMUR_AWS__ENDPOINT_URL"],
            region_name=self.env["MURMUR_AWS__REGION"],
        )
        table = client.describe_table(TableName=self.env["MURMUR_AWS__TIMELINES_TABLE"])["Table"]
        return {
            "timeline_entries": table.get("ItemCount", 0),
            "timeline_bytes": table.get("TableSizeBytes", 0),
            "file_bytes": 0,
        }

    def new_posts(self, *, since_ms: int) -> dict[str, int] | None:
        return None  # counted on the embedded store only

    def stop(self) -> None:
        if self._processes is not None:
            self._processes.stop()
