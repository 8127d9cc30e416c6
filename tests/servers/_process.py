"""Start, probe and stop server processes for the test session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.05


class ServerStartError(Exception):
    """A server could not be started or did not answer: a one-line reason, and details
    (its log) for whoever needs to debug it."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def __str__(self) -> str:
        return f"{self.reason}\n{self.details}" if self.details else self.reason


def free_port(host: str = "127.0.0.1") -> int:
    # The port is free now; the server binds it a moment later. A clash is rare and
    # shows as an early exit, which the pool retries.
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def require_executable(name: str, path: str | None, hint: str) -> str:
    if path is None or shutil.which(path) is None:
        raise ServerStartError(f"{name} not found ({hint})")
    return path


# Servers die with pytest (or `make stack`) even when it is killed (SIGKILL, a timeout's
# os._exit), so a broken run leaves no stray process behind. SIGKILL, not SIGTERM: the
# stores die together, so a graceful drain would only log failures for half a minute.
# The normal stop is still terminate, then kill.
_DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


@dataclass
class ServerProcess:
    label: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()

    def wait_or_kill(self, timeout: float = 10.0) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def stop(self) -> None:
        self.terminate()
        self.wait_or_kill()


def spawn(
    label: str,
    argv: Sequence[str],
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> ServerProcess:
    log_path = workdir / f"{label}.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [*_DIE_WITH_PARENT, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
            pass_fds=pass_fds,
            # Ctrl-C stops pytest, which then stops its servers in order.
            start_new_session=True,
        )
    return ServerProcess(label, popen, log_path)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class Launch(Generic[T]):
    """A server on its way up: its processes, how to ask it whether it answers, and
    the connection details to hand out once it does."""

    name: str
    info: T
    workdir: Path
    processes: list[ServerProcess]
    answers: Callable[[], bool]
    started_at: float = field(default_factory=time.monotonic)
    _ready_after: Future[float] = field(default_factory=Future, init=False, repr=False)

    def watch(self, timeout: float) -> None:
        """Ask whether it answers from a thread of its own, so that servers launched
        together are probed together and each one's startup time is exact."""
        threading.Thread(target=self._probe, args=(timeout,), name=f"probe-{self.name}", daemon=True).start()

    def wait_ready(self) -> float:
        """Block until the server answers (after watch()); return seconds since its start."""
        return self._ready_after.result()

    def _probe(self, timeout: float) -> None:
        try:
            self._ready_after.set_result(self._poll(timeout))
        except ServerStartError as exc:
            self._ready_after.set_exception(exc)
        except Exception as exc:
            self._ready_after.set_exception(
                ServerStartError(f"asking {self.name} failed: {exc!r}", self.logs())
            )

    def _poll(self, timeout: float) -> float:
        deadline = self.started_at + timeout
        while True:
            for process in self.processes:
                code = process.popen.poll()
                if code is not None:
                    raise ServerStartError(
                        f"{process.label} exited with status {code} before answering (log: {process.log_path})",
                        self.logs(),
                    )
            if self.answers():
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} did not answer within {timeout:.0f} s (logs: {self.workdir})", self.logs()
                )
            time.sleep(POLL_SECONDS)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.label} (pid {p.popen.pid}) log {p.log_path}:\n{log_tail(p.log_path)}"
            for p in self.processes
        )

    def terminate(self) -> None:
        for process in reversed(self.processes):
            process.terminate()

    def stop(self, *, keep_workdir: bool = False) -> None:
        """Terminate, wait, kill what is left, remove the workdir. Call terminate() on
        several launches first to stop them in parallel (SecantusDB takes ~2 s)."""
        self.terminate()
        for process in reversed(self.processes):
            process.wait_or_kill()
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
