"""The processes a study cell runs: `murmur serve`, Locust, and their CPU and memory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HOST = "127.0.0.1"
# a child dies with the study (Ctrl-C, a crash): the kernel kills it when its parent goes
_DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class StudyProcessError(RuntimeError):
    """A process of the study failed; the message ends with its log."""


@dataclass
class Child:
    label: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, label: str, argv: Sequence[str], workdir: Path, env: Mapping[str, str]) -> Child:
        log_path = workdir / f"{label}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [*_DIE_WITH_PARENT, *argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                env=dict(env),
                start_new_session=True,
            )
        return cls(label, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no log: {exc})"

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def failed(self) -> StudyProcessError:
        return StudyProcessError(f"{self.label} exited with {self.popen.returncode}:\n{self.log_tail()}")


class MurmurServer:
    """`murmur serve` on a free port, with the environment given."""

    def __init__(self, workdir: Path, env: Mapping[str, str], label: str = "murmur") -> None:
        self.port = free_port()
        self.child = Child.start(
            label,
            [sys.executable, "-m", "api.cli", "serve", "--no-seed", "--host", HOST, "--port", str(self.port)],
            workdir,
            env,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child.popen.poll() is not None:
                raise self.child.failed()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise StudyProcessError(f"murmur was not ready within {timeout:.0f} s:\n{self.child.log_tail()}")

    def stop(self) -> None:
        self.child.stop()


def study_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This environment without the user's MURMUR_* settings (a cell is configured only by
    the study), plus the overrides."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("MURMUR_")}
    return {**kept, **overrides}


@dataclass
class Usage:
    cpu_percent: list[float] = field(default_factory=list)  # of one core, per sample
    rss_bytes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        if not self.cpu_percent:
            return {"cpu_mean_percent": 0.0, "cpu_max_percent": 0.0, "rss_max_mb": 0.0, "rss_mean_mb": 0.0}
        return {
            "cpu_mean_percent": sum(self.cpu_percent) / len(self.cpu_percent),
            "cpu_max_percent": max(self.cpu_percent),
            "rss_max_mb": max(self.rss_bytes) / 2**20,
            "rss_mean_mb": sum(self.rss_bytes) / len(self.rss_bytes) / 2**20,
        }


class UsageSampler:
    """CPU and resident memory of named processes, once a second (setpriv execs the
    command it starts, so a child's pid is the process itself)."""

    def __init__(self, interval: float = 1.0) -> None:
        self._interval = interval
        self._watched: dict[str, psutil.Process] = {}
        self.usage: dict[str, Usage] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        try:
            process = psutil.Process(pid)
            process.cpu_percent()  # the first call only starts the measurement
        except psutil.Error:
            return
        self._watched[name] = process
        self.usage.setdefault(name, Usage())

    def __enter__(self) -> UsageSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for name, process in list(self._watched.items()):
                try:
                    with process.oneshot():
                        cpu, rss = process.cpu_percent(), process.memory_info().rss
                except psutil.Error:
                    continue
                self.usage[name].cpu_percent.append(cpu)
                self.usage[name].rss_bytes.append(rss)
