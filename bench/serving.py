"""GraphQL serving benchmark: Murmur's /graphql against the bare Strawberry reference app.

One server at a time, each a single uvicorn worker on a free loopback port, every
one driven by the same wrk settings and Lua script (bench/wrk_post.lua):

- the reference app (../shared/bench/graphql-reference): ``timeline(first: 20)`` at
  /graphql (no caches, the yardstick) and /graphql-cached, ``{ __typename }`` at /graphql;
- ``murmur serve`` once per fan-out strategy, on a fresh data dir with the seeded demo
  world: ``{ __typename }`` and the reference's exact timeline query as user "demo".

Prints a table and the ratios (see bench/README.md), writes bench-results/serving.json.
Exits 0 when a target is missed (it prints MISSED); 1 when something could not be
measured.

    python -m bench.serving [--duration 10] [--strategies push,pull,hybrid] [--reference-only]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
WRK_SCRIPT = REPO / "bench" / "wrk_post.lua"
DEFAULT_OUTPUT = REPO / "bench-results" / "serving.json"
STRATEGIES = ("push", "pull", "hybrid")

LOGIN_MUTATION = (
    'mutation { login(username: "demo", password: "murmur-demo") '
    "{ __typename ... on AuthPayload { token } } }"
)
TIMELINE_PAGE = 20  # the reference query asks for timeline(first: 20)

# Targets from the serving issue. The second one is informational: the bare reference
# itself only reaches about a quarter of its own { __typename } rate.
TARGET_VS_REFERENCE = 1.0
TARGET_VS_TYPENAME = 0.6


class BenchError(Exception):
    """A server could not be started, probed or measured."""


@dataclasses.dataclass
class Measurement:
    server: str  # "reference", "murmur-push", ...
    endpoint: str  # URL path
    query: str  # "timeline" or "typename"
    rps: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    requests: int | None = None
    errors: int | None = None  # socket errors + non-200 + GraphQL "errors" answers
    response_bytes: int | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None


@dataclasses.dataclass
class Ratio:
    name: str
    value: float | None
    target: float | None  # None: context only, no target
    informational: bool

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target


@dataclasses.dataclass
class Settings:
    duration: int
    warmup: int
    threads: int
    connections: int
    ready_timeout: float
    reference_dir: Path
    murmur_cmd: list[str]
    murmur_path: str
    log_dir: Path
    keep_data: bool


def say(message: str = "") -> None:
    print(message, flush=True)


# --- processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running(cmd: Sequence[str], log_path: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server with its output in log_path; always stop it (by PID) on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # Own session: Ctrl-C reaches only us, and we stop the server in order.
        proc = subprocess.Popen(
            list(cmd),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def wait_ready(
    name: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
    check: httpx.Request,
) -> float:
    """Poll until `check` answers 200; return the seconds it took."""
    started = time.monotonic()
    next_report = started + 5
    with httpx.Client(trust_env=False, timeout=5) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise BenchError(
                    f"{name} exited with code {code} before it was ready; "
                    f"log {log_path}:\n{log_tail(log_path)}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.send(check).status_code == 200:
                    return time.monotonic() - started
            now = time.monotonic()
            if now - started > timeout:
                raise BenchError(
                    f"{name} not ready after {timeout:.0f}s; log {log_path}:\n{log_tail(log_path)}"
                )
            if now >= next_report:  # seeding can take a while: show that it moves
                last = log_tail(log_path, 1)
                say(f"  waiting for {name} ({now - started:.0f}s){': ' + last if last else ''}")
                next_report = now + 5
            time.sleep(0.2)


# --- HTTP -----------------------------------------------------------------------


def auth_headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def login(base_url: str, path: str) -> str:
    with httpx.Client(trust_env=False, timeout=30) as client:
        response = client.post(f"{base_url}{path}", json={"query": LOGIN_MUTATION})
    if response.status_code != 200:
        raise BenchError(f"login: HTTP {response.status_code}: {response.text[:500]}")
    payload = response.json()
    result = (payload.get("data") or {}).get("login") or {}
    token = result.get("token")
    if not isinstance(token, str) or not token:
        raise BenchError(f"login as demo failed: {json.dumps(payload)[:500]}")
    return token


def probe(url: str, body: bytes, token: str | None, measurement: Measurement) -> None:
    """One request before the load: a wrong answer must fail loudly, not benchmark fast."""
    with httpx.Client(trust_env=False, timeout=30) as client:
        response = client.post(url, content=body, headers=auth_headers(token))
    if response.status_code != 200:
        raise BenchError(f"probe {url}: HTTP {response.status_code}: {response.text[:500]}")
    payload = response.json()
    if payload.get("errors"):
        raise BenchError(f"probe {url}: GraphQL errors: {json.dumps(payload['errors'])[:500]}")
    measurement.response_bytes = len(response.content)
    if measurement.query == "timeline":
        edges = ((payload.get("data") or {}).get("timeline") or {}).get("edges")
        count = len(edges) if isinstance(edges, list) else 0
        if count != TIMELINE_PAGE:
            measurement.notes.append(
                f"timeline returned {count} edges, not {TIMELINE_PAGE}: not like-for-like"
            )


def run_wrk(settings: Settings, url: str, body_file: Path, token: str | None, seconds: int) -> dict[str, Any]:
    env = dict(os.environ, BODY_FILE=str(body_file), BEARER_TOKEN=token or "")
    cmd = [
        "wrk",
        f"-t{settings.threads}",
        f"-c{settings.connections}",
        f"-d{seconds}s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    done = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    raise BenchError(f"wrk printed no RESULT line (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def measure(
    settings: Settings,
    results: list[Measurement],
    server: str,
    url: str,
    query: str,
    body_file: Path,
    token: str | None = None,
) -> None:
    """Probe, warm up, then measure one query; the row is kept even when this fails."""
    m = Measurement(server=server, endpoint=httpx.URL(url).path, query=query)
    results.append(m)
    try:
        probe(url, body_file.read_bytes(), token, m)
        if settings.warmup > 0:
            run_wrk(settings, url, body_file, token, settings.warmup)
        say(f"  {server} {m.endpoint} {query}: {settings.duration}s of wrk ...")
        r = run_wrk(settings, url, body_file, token, settings.duration)
    except Exception as exc:
        m.error = str(exc)
        raise
    m.rps, m.requests = r["rps"], r["requests"]
    m.p50_ms, m.p90_ms, m.p99_ms, m.max_ms = (r[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
    # gql_errors already counts non-200 answers, so err_status is not added again
    m.errors = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_timeout", "gql_errors"))
    if m.errors:
        m.notes.append(f"{m.errors} failed requests: req/s is not comparable")
    say(f"    {m.rps:.1f} req/s, p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms, errors {m.errors}")


# --- servers --------------------------------------------------------------------


def server_env() -> dict[str, str]:
    # No bytecode: as root we could write __pycache__ into the read-only shared reference dir.
    # The rate limits are off: wrk is one client on one address sending thousands a second.
    return dict(
        os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", MURMUR_RATE_LIMIT__ENABLED="false"
    )


def bench_reference(settings: Settings, results: list[Measurement]) -> None:
    ref = settings.reference_dir
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "uvicorn",
        "--app-dir", str(ref),
        "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
        "reference_app:app",
    ]  # fmt: skip
    log_path = settings.log_dir / "serving-reference.log"
    say(f"reference app on :{port}")
    with running(cmd, log_path, server_env()) as proc:
        check = httpx.Request(
            "POST",
            f"{base}/graphql",
            content=b'{"query": "{ __typename }"}',
            headers=auth_headers(None),
        )
        wait_ready("reference", proc, log_path, settings.ready_timeout, check)
        for endpoint, query, body in (
            ("/graphql", "timeline", "body_timeline.json"),
            ("/graphql-cached", "timeline", "body_timeline.json"),
            ("/graphql", "typename", "body_typename.json"),
        ):
            measure(settings, results, "reference", base + endpoint, query, ref / body)


def bench_murmur(settings: Settings, strategy: str, results: list[Measurement]) -> None:
    ref = settings.reference_dir
    name = f"murmur-{strategy}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    cmd = [
        *settings.murmur_cmd,
        "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--strategy", strategy,
    ]  # fmt: skip
    log_path = settings.log_dir / f"serving-{name}.log"
    say(f"{name} on :{port}: {shlex.join(cmd)}")
    try:
        with running(cmd, log_path, server_env()) as proc:
            took = wait_ready(
                name,
                proc,
                log_path,
                settings.ready_timeout,
                httpx.Request("GET", f"{base}/readyz"),
            )
            say(f"  ready after {took:.1f}s (demo world seeded)")
            token = login(base, settings.murmur_path)
            url = base + settings.murmur_path
            measure(settings, results, name, url, "typename", ref / "body_typename.json")
            measure(settings, results, name, url, "timeline", ref / "body_timeline.json", token)
    finally:
        if settings.keep_data:
            say(f"  kept data dir {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


# --- report ---------------------------------------------------------------------


def find(results: list[Measurement], server: str, endpoint: str, query: str) -> Measurement | None:
    key = (server, endpoint, query)
    return next((m for m in results if (m.server, m.endpoint, m.query) == key and m.rps is not None), None)


def divide(a: Measurement | None, b: Measurement | None) -> float | None:
    if a is None or b is None or a.rps is None or not b.rps:
        return None
    return a.rps / b.rps


def compute_ratios(results: list[Measurement], strategies: Sequence[str], murmur_path: str) -> list[Ratio]:
    ref_timeline = find(results, "reference", "/graphql", "timeline")
    ratios = []
    for s in strategies:
        timeline = find(results, f"murmur-{s}", murmur_path, "timeline")
        typename = find(results, f"murmur-{s}", murmur_path, "typename")
        ratios.append(
            Ratio(
                f"murmur-{s} timeline / reference timeline",
                divide(timeline, ref_timeline),
                TARGET_VS_REFERENCE,
                False,
            )
        )
        ratios.append(
            Ratio(
                f"murmur-{s} timeline / murmur-{s} {{ __typename }}",
                divide(timeline, typename),
                TARGET_VS_TYPENAME,
                True,
            )
        )
    ratios.append(
        Ratio(
            "reference timeline / reference { __typename }",
            divide(ref_timeline, find(results, "reference", "/graphql", "typename")),
            None,
            True,
        )
    )
    ratios.append(
        Ratio(
            "reference /graphql-cached / reference /graphql (timeline)",
            divide(find(results, "reference", "/graphql-cached", "timeline"), ref_timeline),
            None,
            True,
        )
    )
    return ratios


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_report(results: list[Measurement], ratios: list[Ratio], settings: Settings) -> int:
    """Print the tables; return the number of missed (non-informational) targets."""
    say()
    say(
        f"wrk -t{settings.threads} -c{settings.connections} -d{settings.duration}s, one uvicorn worker per server"
    )
    header = f"{'server':<15} {'endpoint':<16} {'query':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'bytes':>6}"
    say(header)
    say("-" * len(header))
    for m in results:
        say(
            f"{m.server:<15} {m.endpoint:<16} {m.query:<9} {fmt(m.rps, '.1f'):>9} "
            f"{fmt(m.p50_ms, '.1f'):>8} {fmt(m.p99_ms, '.1f'):>8} {fmt(m.errors, 'd'):>6} "
            f"{fmt(m.response_bytes, 'd'):>6}"
        )
        for note in m.notes:
            say(f"{'':<15} note: {note}")
        if m.error:
            say(f"{'':<15} FAILED: {m.error.splitlines()[0]}")
    say()
    width = max(len(r.name) for r in ratios)
    missed = 0
    for r in ratios:
        if r.target is None:
            status = "(context)"
        elif r.met is None:
            status = "n/a"
        elif r.met:
            status = "ok"
        else:
            status = "MISSED (informational)" if r.informational else "MISSED"
            missed += not r.informational
        target = "" if r.target is None else f">= {r.target:.2f}"
        say(f"{r.name:<{width}}  {fmt(r.value, '.2f'):>6}  {target:<8}  {status}")
    say()
    return missed


def metadata(settings: Settings) -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    def command(*cmd: str) -> str | None:
        try:
            done = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else None

    cpu = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "git_commit": command("git", "rev-parse", "HEAD"),
        "git_dirty": bool(command("git", "status", "--porcelain", "--untracked-files=no")),
        "wrk": command("wrk", "-v"),
        "packages": {
            d: version(d)
            for d in (
                "strawberry-graphql",
                "fastapi",
                "uvicorn",
                "uvloop",
                "httptools",
                "orjson",
            )
        },
        "wrk_settings": {
            "threads": settings.threads,
            "connections": settings.connections,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
        },
        "reference_dir": str(settings.reference_dir),
        "murmur_cmd": settings.murmur_cmd,
    }


# --- main -----------------------------------------------------------------------


def default_reference_dir() -> Path:
    override = os.environ.get("MURMUR_REFERENCE_DIR")
    if override:
        return Path(override).resolve()
    return (REPO.parent / "shared" / "bench" / "graphql-reference").resolve()


def default_murmur_cmd() -> str:
    # The console script installed next to this interpreter: the venv's murmur.
    return shlex.join([str(Path(sys.executable).parent / "murmur"), "serve"])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--duration",
        type=int,
        default=10,
        help="seconds of load per measurement (default 10)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="seconds of unrecorded load first (default 2)",
    )
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    p.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help='comma-separated fan-out strategies to serve Murmur with; "" for none',
    )
    p.add_argument(
        "--reference-only",
        action="store_true",
        help="only the reference app (same as --strategies '')",
    )
    p.add_argument(
        "--murmur-cmd",
        default=default_murmur_cmd(),
        help="command that starts Murmur (shell words)",
    )
    p.add_argument(
        "--murmur-path",
        default="/graphql",
        help="Murmur's GraphQL path (default /graphql)",
    )
    p.add_argument(
        "--ready-timeout",
        type=float,
        default=300,
        help="seconds to wait for /readyz (default 300)",
    )
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    p.add_argument("--keep-data", action="store_true", help="keep Murmur's temporary data dirs")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    # A CI timeout sends SIGTERM: unwind so the running server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    strategies = [] if args.reference_only else [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        say(f"unknown strategies: {', '.join(unknown)} (known: {', '.join(STRATEGIES)})")
        return 2
    settings = Settings(
        duration=args.duration,
        warmup=args.warmup,
        threads=args.threads,
        connections=args.connections,
        ready_timeout=args.ready_timeout,
        reference_dir=default_reference_dir(),
        murmur_cmd=shlex.split(args.murmur_cmd),
        murmur_path=args.murmur_path,
        log_dir=args.output.resolve().parent / "logs",
        keep_data=args.keep_data,
    )
    if shutil.which("wrk") is None:
        say("wrk not found: `make bench` installs it (apt-get install wrk)")
        return 1
    for f in ("reference_app.py", "body_timeline.json", "body_typename.json"):
        if not (settings.reference_dir / f).is_file():
            say(f"reference app not found: {settings.reference_dir / f} (set MURMUR_REFERENCE_DIR)")
            return 1

    started = dt.datetime.now(dt.UTC)
    results: list[Measurement] = []
    failures: list[str] = []
    runs: list[tuple[str, Callable[[list[Measurement]], None]]] = [
        ("reference", functools.partial(bench_reference, settings))
    ]
    runs += [(f"murmur-{s}", functools.partial(bench_murmur, settings, s)) for s in strategies]
    for name, run in runs:
        try:
            run(results)
        except (BenchError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
            say(f"  FAILED: {exc}")
            failures.append(name)
            if not any(m.server == name and m.error for m in results):
                # failed before any query: a row of its own
                results.append(Measurement(server=name, endpoint="", query="", error=str(exc)))

    ratios = compute_ratios(results, strategies, settings.murmur_path)
    missed = print_report(results, ratios, settings)
    if failures:
        say(f"FAILED to measure: {', '.join(failures)}")
    if missed:
        say(f"MISSED: {missed} target(s) (exit code stays 0)")
    elif not failures and strategies:
        say("all targets met")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "serving",
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "meta": metadata(settings),
        "results": [dataclasses.asdict(m) for m in results],
        "ratios": [dict(dataclasses.asdict(r), met=r.met) for r in ratios],
        "missed_targets": missed,
        "failures": failures,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    say(f"results: {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
