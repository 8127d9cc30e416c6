"""Issue 17: what `murmur` says at start-up about a misspelt MURMUR_* variable, and about a
port another process already holds (before it starts anything)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from murmur.cache_owner import claim_cache
from murmur.platform import open_platform
from murmur.settings import FanoutWorkerSettings, unknown_variables
from murmur.storage.memory import NoCache
from tests.support import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _murmur(args: list[str], *, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MURMUR_")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("murmur")), *args],
        env={**clean, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_misspelt_variable_is_named_with_the_likely_one(tmp_path: Path) -> None:
    result = _murmur(["init"], MURMUR_DATA_DIR=str(tmp_path), MURMUR_FANUOT="push")
    assert result.returncode == 0, result.stderr
    assert "murmur: unknown setting MURMUR_FANUOT; did you mean MURMUR_FANOUT?" in result.stderr.splitlines()


def test_nested_names_and_far_misses() -> None:
    environ = {
        "MURMUR_API__PROT": "1",
        "MURMUR_WORKERS__IN_PROCES": "1",
        "MURMUR_SOMETHING_ELSE_ENTIRELY": "1",
        "MURMUR_API__PORT": "8001",  # known: nested
        "MURMUR_API": "{}",  # known: a whole group as JSON
        "murmur_fanout": "push",  # known: names match whatever their case
        "OTHER_FANUOT": "x",  # not ours
    }
    assert unknown_variables(environ) == [
        "unknown setting MURMUR_API__PROT; did you mean MURMUR_API__PORT?",
        "unknown setting MURMUR_SOMETHING_ELSE_ENTIRELY",
        "unknown setting MURMUR_WORKERS__IN_PROCES; did you mean MURMUR_WORKERS__IN_PROCESS?",
    ]


def test_every_variable_the_project_reads_is_known() -> None:
    """Every MURMUR_* name in the code, charts and scripts (the load generator's, the
    operator's, the tests' own...) is one start-up accepts without a word."""
    names: set[str] = set()
    skip = {".venv", ".git", "node_modules", "data"}
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if (
            skip & set(parts)
            or any(part.startswith(".") for part in parts)
            or not path.is_file()
            or path == Path(__file__)
        ):
            continue
        if (
            path.suffix not in {".py", ".yaml", ".yml", ".tpl", ".sh", ".toml", ".tf"}
            and path.name != "Makefile"
        ):
            continue
        names |= set(re.findall(r"\bMURMUR_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="ignore")))
    names.discard("MURMUR_POLICY")  # a constant in operator/murmur_operator/simulate.py
    assert "MURMUR_NODE_ID" in names and "MURMUR_LOAD_USERS" in names  # the scan found them
    environ = dict.fromkeys(names, "x")
    assert unknown_variables(environ) == []
    assert unknown_variables(environ, FanoutWorkerSettings) == []


def test_a_busy_port_stops_serve_at_once_before_anything_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        result = _murmur(
            ["serve", "--port", str(port), "--data-dir", str(data)],
            timeout=30,
            MURMUR_AUTH__HASH_TIME_COST="1",
        )
        took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        f"murmur: cannot serve the API on 127.0.0.1:{port}: the port is in use; is another Murmur "
        f'running? Stop it, or pick another port with --port N (`make run RUN_ARGS="--port N"`) '
        "or MURMUR_API__PORT=N"
    ], result.stderr
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr
    assert not data.exists()  # no SQLite file, no secret, no seeding, no workers
    assert took < 20


def test_a_second_api_with_an_in_process_cache_on_the_same_data_is_refused(tmp_path: Path) -> None:
    """Finding 3's other half: two API processes, each with a cache of its own, would serve each
    other's follows, deletes and revocations stale. The first holds the data folder's lock
    (here this test process does, as a running `murmur serve` would)."""
    data = tmp_path / "data"
    held = claim_cache(make_settings(data))
    assert held.refusal is None and held.held is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _murmur(["serve", "--port", str(port), "--data-dir", str(data)], timeout=30)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"murmur: another Murmur API (pid {os.getpid()}) already serves {data}"), line
    assert not (data / "murmur.db").exists()
    held.held.close()
    assert claim_cache(make_settings(data)).refusal is None  # released with the first process
    assert claim_cache(make_settings(data, stores={"cache": "none"})).refusal is None


async def test_a_worker_keeps_no_in_process_cache(tmp_path: Path) -> None:
    async with open_platform(make_settings(tmp_path), serves_api=False) as worker:
        assert isinstance(worker.backends.cache, NoCache)
