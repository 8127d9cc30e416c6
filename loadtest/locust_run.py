"""Running Locust headless on loadtest/locustfile.py, and reading what it wrote."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loadtest.processes import Child

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PERCENTILES = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")


@dataclass(frozen=True)
class LoadShape:
    simulated_users: int
    warmup_seconds: float
    steady_seconds: float
    burst_seconds: float
    burst_factor: float
    think_seconds: float
    probe: bool = True

    def env(self) -> dict[str, str]:
        return {
            "MURMUR_LOAD_USERS": str(self.simulated_users),
            "MURMUR_LOAD_WARMUP_SECONDS": str(self.warmup_seconds),
            "MURMUR_LOAD_STEADY_SECONDS": str(self.steady_seconds),
            "MURMUR_LOAD_BURST_SECONDS": str(self.burst_seconds),
            "MURMUR_LOAD_BURST_FACTOR": str(self.burst_factor),
            "MURMUR_LOAD_THINK_SECONDS": str(self.think_seconds),
            "MURMUR_LOAD_PROBE": "1" if self.probe else "0",
        }

    @property
    def seconds(self) -> float:
        return self.warmup_seconds + self.steady_seconds + self.burst_seconds


def start_locust(
    host: str, workdir: Path, shape: LoadShape, personas: Path, password: str, env: Mapping[str, str]
) -> tuple[Child, Path]:
    """Locust running the shape against host; returns it and the marker file its warm-up
    end writes."""
    marker = workdir / "measuring-since"
    marker.unlink(missing_ok=True)
    load_env = {
        **env,
        **shape.env(),
        "MURMUR_LOAD_PERSONAS": str(personas),
        "MURMUR_LOAD_PASSWORD": password,
        "MURMUR_LOAD_MARKER": str(marker),
    }
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--csv",
        str(workdir / "locust"),
        "--csv-full-history",
        "--html",
        str(workdir / "locust.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    return Child.start("locust", argv, workdir, load_env), marker


def wait_for(path: Path, child: Child, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if child.popen.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@dataclass(frozen=True)
class RequestStats:
    kind: str
    name: str
    count: int
    failures: int
    mean_ms: float
    rps: float
    percentiles_ms: dict[str, float]

    def p(self, percentile: str) -> float:
        return self.percentiles_ms.get(percentile, 0.0)


def read_stats(workdir: Path) -> dict[str, RequestStats]:
    """Locust's final statistics, by request name ("Aggregated" for all)."""
    found = {}
    with (workdir / "locust_stats.csv").open() as file:
        for row in csv.DictReader(file):
            found[row["Name"]] = RequestStats(
                kind=row["Type"],
                name=row["Name"],
                count=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                mean_ms=float(row["Average Response Time"] or 0),
                rps=float(row["Requests/s"] or 0),
                percentiles_ms={p: float(row[p]) for p in PERCENTILES if row.get(p) not in (None, "", "N/A")},
            )
    return found


def read_history(workdir: Path) -> list[dict[str, float]]:
    """The aggregated time series: seconds since start, users, requests/s, failures/s."""
    rows: list[dict[str, float]] = []
    path = workdir / "locust_stats_history.csv"
    if not path.exists():
        return rows
    with path.open() as file:
        for line in csv.DictReader(file):
            if line["Name"] != "Aggregated":
                continue
            rows.append(
                {
                    "at": float(line["Timestamp"]),
                    "users": float(line["User Count"]),
                    "rps": float(line["Requests/s"] or 0),
                    "failures_per_s": float(line["Failures/s"] or 0),
                }
            )
    if rows:
        start = rows[0]["at"]
        for row in rows:
            row["at"] -= start
    return rows


def read_failures(workdir: Path) -> list[dict[str, str]]:
    path = workdir / "locust_failures.csv"
    if not path.exists():
        return []
    with path.open() as file:
        return [dict(row) for row in csv.DictReader(file)]
