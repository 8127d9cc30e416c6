"""`make stack` killed with SIGKILL (its whole process group, as a closed terminal or an
OOM kill would) leaves no process and no temporary folder behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack.cloud import inherited_env
from tests.servers._process import free_port

READY_SECONDS = 240.0
GONE_SECONDS = 15.0
ROOT = Path(__file__).resolve().parents[2]


def _children() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = int(fields[1])
    return found


def _descendants(root: int) -> set[int]:
    parents = _children()
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def test_a_killed_stack_leaves_nothing_behind(tmp_path: Path) -> None:
    env = {**inherited_env(keep_murmur=False), "STACK_PORT": str(free_port()), "MURMUR_SEED__USERS": "8"}
    output = tmp_path / "stack.out"
    with output.open("wb") as sink:
        stack = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, killed whole below
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while "is ready" not in output.read_text():
            assert stack.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.5)
        processes = _descendants(stack.pid)
        folders = {cwd for pid in processes if (cwd := _cwd(pid)) and str(cwd).startswith("/tmp/murmur-")}
        logs = re.search(r"logs\s+(\S+)/murmur-api\.log", output.read_text())
        assert logs is not None, output.read_text()
        folders.add(Path(logs.group(1)))
        assert len(processes) >= 6 and len(folders) >= 4, (processes, folders)  # 4 servers, API, worker
    finally:
        os.killpg(stack.pid, signal.SIGKILL)
        stack.wait()

    deadline = time.monotonic() + GONE_SECONDS
    while True:
        alive = processes & set(_children())
        left = {folder for folder in folders if folder.exists()}
        if not alive and not left:
            break
        assert time.monotonic() < deadline, f"still running: {alive}; still there: {left}"
        time.sleep(0.2)
