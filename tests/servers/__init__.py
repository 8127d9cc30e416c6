"""Real local servers for the cloud-backend tests, as session-scoped pytest fixtures.

Load the plugin from tests/conftest.py:

    pytest_plugins = ["tests.servers"]

Each fixture starts one real server on a free 127.0.0.1 port, waits until it answers
a real request, yields a frozen dataclass with its connection details, and stops it
by PID (terminate, wait, kill) when the session ends:

    redis_server  RedisServer(host, port, log_path).url        Debian's redis-server
    moto_server   MotoServer(host, port, log_path, region, access_key_id,
                  secret_access_key).url / .client_kwargs() / .env()   DynamoDB, SQS
    mongo_server  MongoServer(host, port, log_path, replica_set).uri   SecantusDB
    bolt_server   BoltServer(host, port, log_path, isolated).uri       FalkorDB's Bolt
    bolt_driver   a neo4j AsyncDriver on bolt_server (per test)

Servers are shared by the whole session: give each test its own keys, table, queue,
database or node ids. All the servers the collected tests need start together, when
the first of them is requested. A server that cannot start fails its tests when CI
is set (CI=true), and skips them, saying why, elsewhere. The servers' logs are in
temporary files, quoted when a start fails.
"""

from .plugin import (
    _murmur_server_pool,
    bolt_driver,
    bolt_server,
    mongo_server,
    moto_server,
    pytest_collection_modifyitems,
    pytest_terminal_summary,
    redis_server,
)
from .servers import BoltServer, MongoServer, MotoServer, RedisServer

__all__ = [
    "BoltServer",
    "MongoServer",
    "MotoServer",
    "RedisServer",
    "_murmur_server_pool",
    "bolt_driver",
    "bolt_server",
    "mongo_server",
    "moto_server",
    "pytest_collection_modifyitems",
    "pytest_terminal_summary",
    "redis_server",
]
