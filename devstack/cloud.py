"""The full cloud profile against local servers: its settings, and `murmur` as separate processes.

`make stack` and tests/e2e/test_cloud_profile.py both use this, so the stack a developer
pokes at and the one the test proves are started the same way.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The test fixtures' server helpers (tests/servers), imported from the tests package on
# purpose: the stack runs exactly the servers the tests run, started the same way.
from tests.servers._process import Launch, ServerProcess, log_tail, spawn
from tests.servers.servers import (
    BoltServer,
    MongoServer,
    MotoServer,
    RedisServer,
    launch_bolt,
    launch_mongo,
    launch_moto,
    launch_redis,
)

HOST = "127.0.0.1"
MURMUR = str(Path(sysconfig.get_path("scripts")) / "murmur")  # the console script of this venv
# This log line (api/cli.py) says a worker's consumers are running.
WORKER_RUNNING = "fan-out consumers running"


class StackError(Exception):
    """A `murmur` process failed or did not get ready; the message carries its log."""


@dataclass(frozen=True)
class CloudServers:
    redis: RedisServer
    moto: MotoServer
    mongo: MongoServer
    bolt: BoltServer


@dataclass(frozen=True)
class StoreNames:
    """What `murmur init` creates. Unique names let runs share servers without colliding.
    The queues are SQS FIFO queues: names end in .fifo, 80 characters at most."""

    database: str = "murmur"
    timelines_table: str = "murmur-timelines"
    fanout_queue: str = "murmur-fanout.fifo"
    fanout_bulk_queue: str = "murmur-fanout-bulk.fifo"
    dead_letter_queue: str = "murmur-fanout-dlq.fifo"

    @classmethod
    def unique(cls) -> StoreNames:
        run = uuid.uuid4().hex[:12]
        return cls(
            database=f"murmur_{run}",
            timelines_table=f"murmur-timelines-{run}",
            fanout_queue=f"murmur-fanout-{run}.fifo",
            fanout_bulk_queue=f"murmur-fanout-bulk-{run}.fifo",
            dead_letter_queue=f"murmur-fanout-dlq-{run}.fifo",
        )


SERVER_TIMEOUT_SECONDS = 60.0


def start_servers(launches: list[Launch[Any]], say: Callable[[str], None]) -> CloudServers:
    """Launch the four stand-ins at once (they boot in parallel) and wait for each to answer;
    every launch is appended to `launches` as it starts, for stop_servers."""
    for launcher in (launch_redis, launch_moto, launch_mongo, launch_bolt):
        launch: Launch[Any] = launcher()
        launches.append(launch)
        launch.watch(SERVER_TIMEOUT_SECONDS)
    for launch in launches:
        seconds = launch.wait_ready()
        say(f"  {launch.name:6} {launch.info.url:28} answered after {seconds:.1f} s")
    redis, moto, mongo, bolt = (launch.info for launch in launches)
    if not bolt.isolated:
        say(
            "  warning: FalkorDB's own Bolt listener (which the relay forwards to) is open on every "
            "interface: keeping it in a private network namespace needs root, unshare, nsenter and ip"
        )
    return CloudServers(redis=redis, moto=moto, mongo=mongo, bolt=bolt)


def stop_servers(launches: list[Launch[Any]]) -> None:
    for launch in launches:  # SIGTERM all first: they stop in parallel
        launch.terminate()
    for launch in launches:
        launch.stop()  # and remove its workdir: a failed server's log tail is in its error


@contextmanager
def running_servers(say: Callable[[str], None]) -> Iterator[CloudServers]:
    """The four stand-ins for as long as the block runs."""
    launches: list[Launch[Any]] = []
    try:
        yield start_servers(launches, say)
    finally:
        stop_servers(launches)


def answers_ready(port: int, *, timeout: float) -> bool:
    """A `murmur` process on this port answers /readyz with 200."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):  # HTTPError (503: not ready yet) is a URLError
        return False


def new_jwt_secret() -> str:
    return secrets.token_urlsafe(36)  # 48 characters


def cloud_env(servers: CloudServers, *, jwt_secret: str, names: StoreNames | None = None) -> dict[str, str]:
    """The variables that point `murmur` at the servers with the full cloud profile."""
    names = names or StoreNames()
    moto = servers.moto
    return {
        "MURMUR_PROFILE": "cloud",
        "MURMUR_MONGO__URI": servers.mongo.uri,
        "MURMUR_MONGO__DATABASE": names.database,
        "MURMUR_NEPTUNE__URI": servers.bolt.uri,
        "MURMUR_AWS__ENDPOINT_URL": moto.url,
        "MURMUR_AWS__REGION": moto.region,
        "MURMUR_AWS__TIMELINES_TABLE": names.timelines_table,
        "MURMUR_AWS__FANOUT_QUEUE": names.fanout_queue,
        "MURMUR_AWS__FANOUT_BULK_QUEUE": names.fanout_bulk_queue,
        "MURMUR_AWS__FANOUT_DEAD_LETTER_QUEUE": names.dead_letter_queue,
        # moto takes any credentials, but the AWS credential chain must find some
        "AWS_ACCESS_KEY_ID": moto.access_key_id,
        "AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
        "AWS_DEFAULT_REGION": moto.region,
        "MURMUR_REDIS__URL": servers.redis.url,
        "MURMUR_AUTH__JWT_SECRET": jwt_secret,
        # short polls (with a pause when idle): moto spins a CPU through every long poll of a
        # FIFO queue, and three workers polling would take both cores
        "MURMUR_WORKERS__WAIT_SECONDS": "0",
        # every client here is 127.0.0.1, and the counters live in the shared Redis: the login
        # and register budgets per address would count a whole test session as one client
        "MURMUR_RATE_LIMIT__LOGIN_PER_IP": "100000/minute",
        "MURMUR_RATE_LIMIT__REGISTER_PER_IP": "100000/hour",
        "MURMUR_RATE_LIMIT__NEW_QUERY_BYTES_PER_IP": "100000000/minute",
    }


def inherited_env(*, keep_murmur: bool) -> dict[str, str]:
    """This process's environment without AWS_* (a developer's profile or endpoint would
    reach past moto) and, unless kept, without MURMUR_* (hermetic tests)."""
    dropped = ("AWS_",) if keep_murmur else ("AWS_", "MURMUR_")
    return {key: value for key, value in os.environ.items() if not key.startswith(dropped)}


class LoopbackEndpoints:
    """The addresses of a Murmur API listening on a loopback port."""

    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/graphql"

    def base(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


class MurmurProcesses(LoopbackEndpoints):
    """`murmur serve` without in-process workers, and `murmur worker` processes, as the API
    and worker pods of the cloud shape, sharing nothing but the stores. Each worker serves
    its probes and metrics on a port of its own (`worker_ports`)."""

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        *,
        port: int,
        worker_concurrency: int = 2,
        worker_ports: Sequence[int] = (),
    ) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.port = port
        self.worker_concurrency = worker_concurrency
        self.worker_ports = list(worker_ports) or [0]  # 0: one worker, its probes on any free port
        self.api: ServerProcess | None = None
        self.workers: list[ServerProcess] = []

    @property
    def worker(self) -> ServerProcess | None:
        """The first worker (most setups run one)."""
        return self.workers[0] if self.workers else None

    def init(self) -> str:
        """`murmur init`: create the database indexes, table and queues; its report."""
        try:
            done = subprocess.run(
                [MURMUR, "init"],
                env=self.env,
                cwd=self.workdir,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"murmur init did not finish within {exc.timeout:.0f} s") from exc
        if done.returncode != 0:
            raise StackError(f"murmur init failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        api_env = {**self.env, "MURMUR_WORKERS__IN_PROCESS": "0"}  # the worker process does fan-out
        self.api = spawn(
            "murmur-api",
            [MURMUR, "serve", "--host", HOST, "--port", str(self.port)],
            self.workdir,
            env=api_env,
        )
        self.workers = [self.start_worker(i) for i in range(len(self.worker_ports))]

    def start_worker(self, index: int) -> ServerProcess:
        """Worker number `index` (again, after it was stopped or killed). It gets no JWT
        secret: a worker never signs or checks a token, so it must run without one."""
        env = {**self.env, "MURMUR_WORKERS__HTTP_PORT": str(self.worker_ports[index])}
        env.pop("MURMUR_AUTH__JWT_SECRET", None)
        return spawn(
            f"murmur-worker-{index}",
            [MURMUR, "worker", "--concurrency", str(self.worker_concurrency)],
            self.workdir,
            env=env,
        )

    def worker_metrics(self, index: int) -> str:
        """The /metrics text of worker `index` (it needs a fixed port)."""
        url = f"http://{HOST}:{self.worker_ports[index]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def wait_ready(self, timeout: float, *, while_waiting: Callable[[], None] | None = None) -> float:
        """Block until the API answers /readyz and the worker's consumers run; seconds taken.
        `while_waiting` is called between polls (to show progress)."""
        started = time.monotonic()
        while not (self._api_ready() and self._worker_running()):
            self.check_alive()
            if while_waiting is not None:
                while_waiting()
            if time.monotonic() - started > timeout:
                raise StackError(f"murmur was not ready within {timeout:.0f} s\n{self.logs()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def check_alive(self) -> None:
        for process in self._processes():
            code = process.popen.poll()
            if code is not None:
                raise StackError(f"{process.label} exited with status {code}\n{self.logs()}")

    def stop(self) -> None:
        """SIGTERM both, then wait (kill after a grace period): they stop in parallel."""
        for process in self._processes():
            process.terminate()
        for process in self._processes():
            process.wait_or_kill(timeout=15)

    def logs(self, lines: int = 60) -> str:
        return "\n".join(
            f"--- {p.label} (pid {p.popen.pid}) {p.log_path}:\n{log_tail(p.log_path, lines)}"
            for p in self._processes()
        )

    @contextmanager
    def logs_on_failure(self) -> Iterator[None]:
        """Print both processes' logs if the body raises (pytest shows them with the failure)."""
        try:
            yield
        except BaseException:
            print(self.logs(lines=200))
            raise

    def _processes(self) -> list[ServerProcess]:
        return [p for p in (self.api, *self.workers) if p is not None]

    def _api_ready(self) -> bool:
        return answers_ready(self.port, timeout=2)

    def _worker_running(self) -> bool:
        if not self.workers:
            return False
        try:
            return all(WORKER_RUNNING in w.log_path.read_text(errors="replace") for w in self.workers)
        except OSError:
            return False
