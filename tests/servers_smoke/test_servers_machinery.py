"""The fixture machinery itself: failing vs skipping, logs on a failed start, stopping."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.servers import servers
from tests.servers._policy import server_unavailable
from tests.servers._process import Launch, ServerStartError, spawn
from tests.servers.plugin import ServerPool


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_unavailable_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="redis_server could not start: gone"):
        server_unavailable("redis_server", "gone", "the log")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_unavailable_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="redis_server could not start: gone"):
        server_unavailable("redis_server", "gone")


def _crashing_launch(workdir: Path) -> Launch[None]:
    process = spawn(
        "crasher", [sys.executable, "-c", "print('boom: bad flag'); raise SystemExit(3)"], workdir
    )
    return Launch("crasher", None, workdir, [process], answers=lambda: False)


def test_a_server_that_exits_reports_status_and_log(tmp_path: Path) -> None:
    launch = _crashing_launch(tmp_path)
    launch.watch(timeout=30)
    with pytest.raises(ServerStartError) as caught:
        launch.wait_ready()
    assert "exited with status 3" in caught.value.reason
    assert "boom: bad flag" in caught.value.details


def test_pool_retries_once_then_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    starts: list[int] = []

    def launcher() -> Launch[None]:
        starts.append(1)
        workdir = tmp_path / str(len(starts))
        workdir.mkdir()
        return _crashing_launch(workdir)

    monkeypatch.setitem(servers.LAUNCHERS, "crasher", launcher)
    pool = ServerPool(["crasher"], timeout=30)
    try:
        with pytest.raises(ServerStartError, match="exited with status 3"):
            pool.get("crasher")
    finally:
        pool.stop_all()
    assert len(starts) == 2


def test_stop_terminates_then_kills(tmp_path: Path) -> None:
    # A server that ignores SIGTERM is killed after the wait.
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    process = spawn("stubborn", [sys.executable, "-c", stubborn], tmp_path)
    deadline = time.monotonic() + 10
    while "up" not in process.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.terminate()
    process.wait_or_kill(timeout=0.5)
    assert process.popen.returncode == -9
