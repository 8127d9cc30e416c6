"""`murmur generate` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MURMUR = [sys.executable, "-m", "api.cli"]


def test_generate_loads_a_world_and_writes_its_personas(tmp_path: Path) -> None:
    done = subprocess.run(
        [*MURMUR, "generate", "--users", "400", "--seed", "3", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "MURMUR_FANOUT": "push"},
    )
    assert done.returncode == 0, done.stderr
    personas = json.loads((tmp_path / "personas.json").read_text())
    assert personas["users"] == 400 and len(personas["personas"]["username"]) == 400
    assert personas["load"]["timeline_entries"] > 0  # push materialised the timelines
    assert f"{personas['edges']:,} follows" in done.stdout
    assert "edges/s" in done.stdout and "celebrity" in done.stdout
    assert (tmp_path / "murmur.db").stat().st_size > 0


def test_generate_refuses_a_population_too_small_and_a_loaded_store(tmp_path: Path) -> None:
    small = subprocess.run(
        [*MURMUR, "generate", "--users", "5", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert small.returncode == 2 and "at least 20 users" in small.stderr
    first = subprocess.run(
        [*MURMUR, "generate", "--users", "50", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [*MURMUR, "generate", "--users", "50", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (
        again.returncode == 1
        and again.stderr.startswith("murmur: ")
        and "already holds users" in again.stderr
    )
    assert "Traceback" not in again.stderr


def test_generate_in_production_needs_a_password_of_its_own(tmp_path: Path) -> None:
    """Review: `murmur generate` in production gave every persona the public demo password."""
    done = subprocess.run(
        [*MURMUR, "generate", "--users", "50", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "MURMUR_ENVIRONMENT": "production",
            "MURMUR_AUTH__JWT_SECRET": "Zq8v3Lr0Xk2Jm9Tb7Yp1Wn5Hs4Gd6Fc0Qe",
        },
    )
    assert done.returncode == 2
    assert "MURMUR_SEED__DEMO_PASSWORD must be set to a password of your own" in done.stderr
    assert not (tmp_path / "murmur.db").exists()
