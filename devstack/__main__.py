"""`make stack`: the cloud shape on one machine, in the foreground until Ctrl-C or SIGTERM.

Starts redis-server, moto (DynamoDB, SQS), SecantusDB (MongoDB) and FalkorDB's Bolt port
on free loopback ports, runs `murmur init` against them, then `murmur serve` (on
127.0.0.1:$STACK_PORT, default 8000) and `murmur worker` as separate processes. Stops
everything it started, by PID: the API and the worker first, then the servers.
MURMUR_* variables in the environment reach Murmur (e.g. MURMUR_FANOUT=push make stack).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from devstack.cloud import (
    HOST,
    MurmurProcesses,
    StackError,
    cloud_env,
    inherited_env,
    new_jwt_secret,
    start_servers,
    stop_servers,
)
from tests.servers._process import Launch, ServerStartError
from tests.servers._reaper import temp_dir

PROGRESS_EVERY_SECONDS = 10.0
# the API seeds a demo world on first start and is ready only after it
READY_TIMEOUT_SECONDS = 600.0


class Stopped(Exception):
    """SIGINT or SIGTERM arrived."""


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as uvicorn binds: connections of a previous run in TIME_WAIT do not make it taken
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _say(message: str = "") -> None:
    print(message, flush=True)


class _SeedProgress:
    """Echoes the API's seeding log lines as they appear: on these stand-ins the demo world
    takes a minute or more, mostly rebuilding every timeline in moto's DynamoDB."""

    def __init__(self, log_path: Path) -> None:
        self._log_path = log_path
        self._offset = 0
        self._started = self._said = time.monotonic()

    def __call__(self) -> None:
        try:
            with self._log_path.open("rb") as log:
                log.seek(self._offset)
                lines = log.read().splitlines(keepends=True)
        except OSError:
            lines = []
        for line in lines:
            if not line.endswith(b"\n"):
                break  # half-written: read it whole next time
            self._offset += len(line)
            text = line.decode(errors="replace").rstrip()
            if " murmur.seed: " in text:
                self._echo("  " + text.split(" murmur.seed: ", 1)[1])
        if time.monotonic() - self._said >= PROGRESS_EVERY_SECONDS:  # never silent for long
            self._echo(
                f"  still seeding the demo world ({time.monotonic() - self._started:.0f} s so far) ..."
            )

    def _echo(self, text: str) -> None:
        _say(text)
        self._said = time.monotonic()


def _banner(murmur: MurmurProcesses, env_file: Path, shared: dict[str, str], seconds: float) -> None:
    exports = "\n".join(f"  export {key}={shlex.quote(value)}" for key, value in shared.items())
    _say(
        f"""
Murmur's cloud shape is ready, {seconds:.1f} s after starting.

  GraphiQL   {murmur.url}
  log in     username "demo", password "murmur-demo" (every seeded user has that password)
  logs       {murmur.workdir}/murmur-api.log, murmur-worker.log

Point another `murmur` command at this stack (e.g. a second `murmur worker`) with:
{exports}
or: set -a; . {env_file}; set +a

Ctrl-C (or SIGTERM) stops everything.
"""
    )


def run(port: int) -> int:
    if not _port_free(port):
        _say(f"make stack: {HOST}:{port} is taken; choose another port with STACK_PORT=...")
        return 1
    started = time.monotonic()
    workdir = temp_dir("murmur-stack-")
    launches: list[Launch[Any]] = []
    murmur: MurmurProcesses | None = None
    failed = True
    try:
        _say("starting redis-server, moto, SecantusDB and FalkorDB (Bolt) on 127.0.0.1 ...")
        servers = start_servers(launches, _say)
        # Only the stack's own settings are printed for reuse; MURMUR_* given to `make stack` apply too.
        shared = cloud_env(servers, jwt_secret=new_jwt_secret())
        env_file = workdir / "stack.env"
        env_file.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in shared.items()))
        env_file.chmod(0o600)  # it holds the JWT secret
        murmur = MurmurProcesses({**inherited_env(keep_murmur=True), **shared}, workdir, port=port)
        _say("murmur init ...")
        _say("  " + murmur.init().strip().replace("\n", "\n  "))
        _say(f"starting `murmur serve` on {HOST}:{port} and `murmur worker`; the API seeds a demo world ...")
        murmur.start()
        assert murmur.api is not None
        seed_progress = _SeedProgress(murmur.api.log_path)
        murmur.wait_ready(READY_TIMEOUT_SECONDS, while_waiting=seed_progress)
        seed_progress()  # the last lines, written just before /readyz answered
        _banner(murmur, env_file, shared, time.monotonic() - started)
        while True:
            murmur.check_alive()
            for launch in launches:
                if any(p.popen.poll() is not None for p in launch.processes):
                    raise StackError(f"{launch.name} stopped unexpectedly\n{launch.logs()}")
            time.sleep(0.5)
    except Stopped as signalled:
        _say(f"\n{signalled}: stopping")
        failed = False
    except (ServerStartError, StackError) as exc:
        _say(f"make stack: {exc}")
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if murmur is not None:
            _say("stopping the API and the worker ...")
            murmur.stop()
        _say("stopping the servers ...")
        stop_servers(launches)
        if failed:
            _say(f"the API's and the worker's logs are kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def main() -> None:
    signal.signal(signal.SIGINT, _stop_on_signal)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    sys.exit(run(int(os.environ.get("STACK_PORT", "8000"))))


if __name__ == "__main__":
    main()
