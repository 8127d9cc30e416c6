"""All configuration, read from MURMUR_* environment variables (nested groups use `__`).

Built once in main()/create_app() and passed down, never read at import time.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from limits import parse
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from murmur.domain import NODES, InvalidInput, Limits
from murmur.jwt_secret import dev_secret, refuse_guessable_secret
from murmur.password_policy import check_new_password

PRODUCTION_METRICS_PORT = 9090


class Strategy(StrEnum):
    PUSH = "push"
    PULL = "pull"
    HYBRID = "hybrid"
    COST_MODEL = "cost-model"  # hybrid, with Feeding Frenzy's per-author cost rule


class Profile(StrEnum):
    EMBEDDED = "embedded"  # one process, one SQLite file
    CLOUD = "cloud"  # MongoDB, Neptune, DynamoDB, Redis, SQS


class AuthSettings(BaseModel):
    # None on the embedded profile means "make a random one and keep it in the data dir"
    jwt_secret: SecretStr | None = None
    token_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # argon2id cost; tests and the seeder lower it
    hash_time_cost: int = Field(default=2, ge=1)
    hash_memory_kib: int = Field(default=19 * 1024, ge=8)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # what a document may ask, checked before it runs (api/validation.py, api/cost.py): at
    # these limits validation stays under 50 ms (bench/validation.py)
    max_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=20, ge=1)
    max_tokens: int = Field(default=1000, ge=50)
    max_fragments: int = Field(default=32, ge=0)  # fragment definitions per document
    max_fragment_spreads: int = Field(default=64, ge=0)  # `...Name` spreads per document
    # estimated objects an operation may resolve: `first` multiplied down every list path
    max_cost: int = Field(default=10_000, ge=1)
    max_response_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_page_size: int = Field(default=100, ge=1)
    # slow clients: a request's headers and its body must each arrive within these
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    # an idle keep-alive connection is closed after this; behind an ALB make it longer than
    # the ALB's idle timeout (60 s by default), or the ALB may reuse a closing connection
    keep_alive_seconds: float = Field(default=5.0, gt=0)
    # connections open at once; past it new ones get 503 and are closed
    max_connections: int = Field(default=2000, ge=1)
    # connections open at once from one client address (an IPv6 /64), when clients reach the
    # API directly (trusted_proxies 0; behind a proxy the proxy holds the client's connection)
    max_connections_per_client: int = Field(default=64, ge=1)
    # websockets open at once per account, and per client address (behind proxies too)
    ws_per_user: int = Field(default=10, ge=1)
    ws_per_client: int = Field(default=100, ge=1)
    # a websocket must send connection_init within this; one without a valid token is
    # closed this long after it (once nothing it asked for is running)
    ws_init_timeout_seconds: float = Field(default=5.0, gt=0)
    ws_anonymous_seconds: float = Field(default=5.0, gt=0)
    # an idle logged-in socket looks at its token again this often (a revocation with no
    # event or operation to find it)
    ws_token_recheck_seconds: float = Field(default=30.0, gt=0)
    # a subscription's selection is resolved again for every event: its own, smaller budget
    max_subscription_cost: int = Field(default=50, ge=1)
    # TLS terminates in front of the API (an ALB with HTTPS): answers carry HSTS
    behind_tls: bool = False
    # /metrics on a port of its own, not the public API port (None: on the API port in
    # development, on 9090 in production, so the public port never serves it there)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # where that port listens: loopback unless a scraper outside the pod needs it (the chart
    # sets 0.0.0.0 and a NetworkPolicy)
    metrics_host: str = "127.0.0.1"
    # None: on unless environment is production
    introspection: bool | None = None
    graphiql: bool | None = None


class RateLimitSettings(BaseModel):
    """Operations on /graphql per logged-in user and per client address, in limits' notation
    ("100/second", "6000/minute"), over HTTP and websockets alike; and budgets of their own
    for login and register. Kept in process on the embedded profile, in Redis when Redis is
    the cache (shared by every API pod). The general limits are generous: they stop floods,
    not users; the login budgets stop password guessing."""

    enabled: bool = True
    per_user: str = "6000/minute"
    per_ip: str = "30000/minute"
    # login attempts per client address, and registrations per client address
    login_per_ip: str = "30/minute"
    register_per_ip: str = "20/hour"
    # failed logins to one account before each further attempt waits (1 s, 2 s, 4 s, ...
    # up to the maximum); a successful login starts the count again
    login_failures_before_backoff: int = Field(default=5, ge=1)
    login_backoff_max_seconds: int = Field(default=900, ge=1)
    # bytes of query text not seen before (not in the parse and validation cache) per client
    # address: validating a new document costs up to tens of ms, a known one nothing
    new_query_bytes_per_ip: str = "200000/minute"
    # proxies in front of the API that append to X-Forwarded-For (1 behind an ALB): the
    # client is the entry that many places from the right; 0 ignores the header
    trusted_proxies: int = Field(default=0, ge=0, le=10)
    # deprecated: true means trusted_proxies = 1
    trust_forwarded_for: bool = False

    @field_validator("per_user", "per_ip", "login_per_ip", "register_per_ip", "new_query_bytes_per_ip")
    @classmethod
    def _a_rate(cls, rate: str) -> str:
        try:
            parse(rate)
        except ValueError:
            raise ValueError('a rate like "100/second" or "6000/minute"') from None
        return rate

    @model_validator(mode="after")
    def _forwarded_for_means_one_proxy(self) -> Self:
        if self.trust_forwarded_for and self.trusted_proxies == 0:
            self.trusted_proxies = 1
        return self


class WorkerSettings(BaseModel):
    # fan-out consumers started inside the API process (the embedded shape)
    in_process: int = Field(default=2, ge=0)
    # messages taken per receive from the express lane (posts, follows, plans); the bulk lane
    # (chunks of big fan-outs) is taken one message at a time, so consumers share a fan-out
    batch_size: int = Field(default=10, ge=1, le=10)
    # fair lanes: one poll in this many looks at the bulk lane first, so a backlog of express
    # work cannot starve big fan-outs (each such poll takes one chunk); 1: bulk always first
    bulk_poll_every: int = Field(default=4, ge=1)
    wait_seconds: float = Field(default=1.0, ge=0)
    # a lease; a consumer extends it every third of it while it works on a message
    visibility_timeout_seconds: float = Field(default=60.0, gt=0)
    max_receives: int = Field(default=5, ge=1)
    # followers per fan-out chunk: one chunk is one queue message and one batched write
    followers_page_size: int = Field(default=5000, ge=1)
    outbox_grace_seconds: float = Field(default=5.0, ge=0)
    # on SIGTERM, messages in hand get this long to finish; the rest are released
    shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    # `murmur worker` serves /healthz, /readyz and /metrics here (None: no HTTP server)
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=9100, ge=0, le=65535)


class MongoSettings(BaseModel):
    """Users and posts: MongoDB, or Amazon DocumentDB (TLS with its CA bundle, retryWrites=false)."""

    uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    database: str = "murmur"
    tls_ca_file: Path | None = None
    retry_writes: bool = True  # DocumentDB does not support retryable writes: set false there


class NeptuneSettings(BaseModel):
    """The follow graph: Amazon Neptune over Bolt (openCypher), or any Bolt server."""

    uri: str = "bolt://127.0.0.1:8182"
    iam_auth: bool = False  # sign the Bolt auth token with SigV4 (botocore credentials)
    region: str = "us-east-1"
    # Neptune and FalkorDB reject large Bolt messages: UNWIND batches stay under this many bytes
    max_message_bytes: int = Field(default=4000, ge=512)
    # followers grouped per block node, so a fan-out span or a page of followers reads only its
    # blocks; fixed per user when the user's first follower arrives. Best a divisor of
    # MURMUR_WORKERS__FOLLOWERS_PAGE_SIZE (a chunk is then whole blocks).
    follower_block_size: int = Field(default=1000, ge=1)


class AwsSettings(BaseModel):
    """DynamoDB (timelines) and SQS (the fan-out queue). Credentials come from the usual AWS chain."""

    region: str = "us-east-1"
    endpoint_url: str | None = None  # a local stand-in (moto) in tests and `make stack`
    timelines_table: str = "murmur-timelines"
    # SQS FIFO queues (names end in .fifo): their deduplication drops a chunk or relayed
    # message sent twice. The express lane carries posts, follows and fan-out plans; the
    # bulk lane the chunks of big fan-outs, so a celebrity's post never holds up the rest.
    fanout_queue: str = "murmur-fanout.fifo"
    fanout_bulk_queue: str = "murmur-fanout-bulk.fifo"
    fanout_dead_letter_queue: str = "murmur-fanout-dlq.fifo"

    @field_validator("fanout_queue", "fanout_bulk_queue", "fanout_dead_letter_queue")
    @classmethod
    def _fifo_queue(cls, name: str) -> str:
        if not name.endswith(".fifo"):
            raise ValueError("Murmur's fan-out queues are SQS FIFO queues: the name must end in .fifo")
        return name


class RedisSettings(BaseModel):
    """ElastiCache Redis: the read-through cache, hot timelines and live events."""

    url: str = "redis://127.0.0.1:6379/0"
    tls: bool = False
    auth_token: SecretStr | None = None
    hot_timelines: bool = True  # keep recently read timelines as capped sorted sets in front of DynamoDB


class StoreChoice(BaseModel):
    """Which technology backs each store. The profile sets the defaults; each can be overridden
    (MURMUR_STORES__TIMELINES=sqlite, ...)."""

    users: Literal["sqlite", "mongo"] | None = None
    posts: Literal["sqlite", "mongo"] | None = None
    graph: Literal["sqlite", "neptune"] | None = None
    timelines: Literal["sqlite", "dynamodb"] | None = None
    cache: Literal["memory", "redis", "none"] | None = None  # none: nothing cached (the study)
    bus: Literal["local", "redis"] | None = None
    queue: Literal["sqlite", "sqs"] | None = None

    def resolved(self, profile: Profile) -> ResolvedStores:
        cloud = profile is Profile.CLOUD
        return ResolvedStores(
            users=self.users or ("mongo" if cloud else "sqlite"),
            posts=self.posts or ("mongo" if cloud else "sqlite"),
            graph=self.graph or ("neptune" if cloud else "sqlite"),
            timelines=self.timelines or ("dynamodb" if cloud else "sqlite"),
            cache=self.cache or ("redis" if cloud else "memory"),
            bus=self.bus or ("redis" if cloud else "local"),
            queue=self.queue or ("sqs" if cloud else "sqlite"),
        )


class ResolvedStores(BaseModel):
    users: Literal["sqlite", "mongo"]
    posts: Literal["sqlite", "mongo"]
    graph: Literal["sqlite", "neptune"]
    timelines: Literal["sqlite", "dynamodb"]
    cache: Literal["memory", "redis", "none"]
    bus: Literal["local", "redis"]
    queue: Literal["sqlite", "sqs"]


class CostModelSettings(BaseModel):
    """The cost-model hybrid (MURMUR_FANOUT=cost-model): push an author's posts when their
    followers' reads, weighted by `pull_cost`, outweigh the author's posts weighted by
    `push_cost` (murmur/fanout/delivery_policy.py). The defaults are the costs the committed study
    measured on the embedded SQLite store (docs/study/; `murmur experiment` measures them
    again and reports them)."""

    push_cost: float = Field(default=4.8e-5, gt=0)  # seconds: one post into one follower's timeline
    pull_cost: float = Field(default=5.8e-4, gt=0)  # seconds: one author's posts merged into one read
    half_life_seconds: float = Field(default=60.0, gt=0)  # how fast measured rates forget
    sample_followers: int = Field(default=200, ge=1)  # followers whose read rates are averaged
    remember_seconds: float = Field(default=10.0, ge=0)  # an author's decision is reused this long


DEFAULT_DEMO_PASSWORD = "murmur-demo"
DEMO_USERNAME = "demo"


class SeedSettings(BaseModel):
    # None: seed a demo world on first start, except in production (there only when set true)
    enabled: bool | None = None
    users: int = Field(default=300, ge=2)
    posts_per_user: int = Field(default=5, ge=0)
    demo_password: SecretStr = SecretStr(DEFAULT_DEMO_PASSWORD)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MURMUR_", env_nested_delimiter="__", extra="ignore")

    profile: Profile = Profile.EMBEDDED
    environment: Literal["development", "production"] = "development"
    fanout: Strategy = Strategy.HYBRID
    hybrid_threshold: int = Field(default=10_000, ge=0)
    cost_model: CostModelSettings = CostModelSettings()
    timeline_max: int = Field(default=800, ge=1)
    # about one push in this many trims a timeline back to the cap (None: the store's own
    # default, 16 on SQLite, 100 on DynamoDB); 1 trims on every push
    timeline_trim_every: int | None = Field(default=None, ge=1)
    data_dir: Path = Path("data")
    # The node part of every id this process mints (0..1023); None derives it from the pod
    # name in Kubernetes, else from the host and process (see node_id_of).
    node_id: int | None = Field(default=None, ge=0, lt=NODES)
    # Push skips followers who have not been active for this many days (None: push to all);
    # a returning follower's timeline is rebuilt on their first read. At least an hour, so the
    # activity throttle and clock skew fit well inside it (murmur/fanout/inactivity.py).
    inactive_after_days: float | None = Field(default=None, ge=1 / 24)
    # A read that reaches the end of a stored timeline before the cap checks it against the
    # truth and repairs it (murmur/fanout/healing.py); off, timelines are served as fan-out
    # left them (tests of fan-out itself)
    heal_reads: bool = True

    auth: AuthSettings = AuthSettings()
    api: ApiSettings = ApiSettings()
    workers: WorkerSettings = WorkerSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    seed: SeedSettings = SeedSettings()
    stores: StoreChoice = StoreChoice()
    mongo: MongoSettings = MongoSettings()
    neptune: NeptuneSettings = NeptuneSettings()
    aws: AwsSettings = AwsSettings()
    redis: RedisSettings = RedisSettings()
    # `murmur init` and start-up may create missing tables, queues and indexes
    create_missing: bool = True

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.auth.jwt_secret is None and (
            self.profile is not Profile.EMBEDDED or self.environment == "production"
        ):
            raise ValueError("MURMUR_AUTH__JWT_SECRET must be set outside the embedded development profile")
        if self.auth.jwt_secret is not None and len(self.auth.jwt_secret.get_secret_value()) < 32:
            raise ValueError("MURMUR_AUTH__JWT_SECRET must be at least 32 characters")
        if self.auth.jwt_secret is not None and (self.profile is not Profile.EMBEDDED or self.production):
            refuse_guessable_secret(self.auth.jwt_secret.get_secret_value(), production=self.production)
        if self.seed.enabled and (problem := self.demo_password_problem()) is not None:
            raise ValueError(problem)
        return self

    def demo_password_problem(self) -> str | None:
        """Why the seeded (or generated) users' shared password will not do in production:
        the public default, or one the password policy refuses. None elsewhere."""
        if not self.production:
            return None
        password = self.seed.demo_password.get_secret_value()
        if password == DEFAULT_DEMO_PASSWORD:
            return "MURMUR_SEED__DEMO_PASSWORD must be set to a password of your own to seed a demo world in production"
        try:
            check_new_password(password, username=DEMO_USERNAME, limits=Limits())
        except InvalidInput as refused:
            return f"MURMUR_SEED__DEMO_PASSWORD will not do in production: {refused.message}"
        return None

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def seed_enabled(self) -> bool:
        """Seed a demo world on first start: by default everywhere but production."""
        return self.seed.enabled if self.seed.enabled is not None else not self.production

    @property
    def metrics_port(self) -> int | None:
        """Where /metrics is served apart from the API; None: on the API port itself."""
        if self.api.metrics_port is not None:
            return self.api.metrics_port
        return PRODUCTION_METRICS_PORT if self.production else None

    @property
    def introspection_enabled(self) -> bool:
        return self.api.introspection if self.api.introspection is not None else not self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.api.graphiql if self.api.graphiql is not None else not self.production

    @property
    def resolved_stores(self) -> ResolvedStores:
        return self.stores.resolved(self.profile)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "murmur.db"

    def resolved_node_id(self) -> int:
        return self.node_id if self.node_id is not None else node_id_of(os.environ, os.getpid())

    def jwt_secret(self) -> str:
        """The configured secret, or the embedded dev secret kept in the data dir."""
        if self.auth.jwt_secret is not None:
            return self.auth.jwt_secret.get_secret_value()
        return dev_secret(self.data_dir)


class FanoutWorkerSettings(Settings):
    """Settings of `murmur worker`: it fans out and never signs or checks a token, so it
    runs without the JWT secret the API needs outside the embedded development profile."""

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.auth.jwt_secret is not None and len(self.auth.jwt_secret.get_secret_value()) < 32:
            raise ValueError("MURMUR_AUTH__JWT_SECRET must be at least 32 characters")
        return self


_ORDINAL = re.compile(r"-(\d+)$")


def node_id_of(environ: Mapping[str, str], pid: int) -> int:
    """An id node for a process that was given none.

    In Kubernetes (KUBERNETES_SERVICE_HOST is set) the pod name decides: a StatefulSet
    pod's ordinal (`murmur-worker-3` is node 3), else a hash of the name — containers run as
    PID 1, so the PID says nothing there. Elsewhere the host and PID decide, so processes on
    one machine differ. Hashed nodes can coincide; stores refuse a duplicate id and the
    caller mints another, and MURMUR_NODE_ID rules it out.
    """
    if "KUBERNETES_SERVICE_HOST" in environ:
        name = environ.get("POD_NAME") or environ.get("HOSTNAME", "")
        ordinal = _ORDINAL.search(name)
        if ordinal and "-" in name[: ordinal.start()] and len(ordinal.group(1)) < 5:
            return int(ordinal.group(1)) % NODES
        seed = name
    else:
        seed = f"{environ.get('HOSTNAME', '')}/{pid}"
    return int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "big") % NODES


# MURMUR_* variables read elsewhere than Settings: the load generator's (MURMUR_LOAD_*),
# the operator's, the benchmarks' and the tests'
OTHER_VARIABLES = frozenset({"MURMUR_OPERATOR_PEERING", "MURMUR_REFERENCE_DIR"})
OTHER_PREFIXES = ("MURMUR_LOAD_", "MURMUR_TEST_")


def setting_variables(model: type[BaseModel] = Settings, prefix: str = "MURMUR_") -> set[str]:
    """Every variable that sets something in `model`: each field, and each field of its
    nested groups (`MURMUR_API` takes the whole group as JSON, `MURMUR_API__PORT` one field)."""
    names = set()
    for name, field in model.model_fields.items():
        variable = prefix + name.upper()
        names.add(variable)
        for kind in (field.annotation, *getattr(field.annotation, "__args__", ())):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                names |= setting_variables(kind, variable + "__")
    return names


def unknown_variables(environ: Mapping[str, str], model: type[BaseModel] = Settings) -> list[str]:
    """One line per MURMUR_* variable that nothing reads (a misspelling is otherwise
    silently ignored), with the closest known name when there is one."""
    known = setting_variables(model)
    suffixes = [name.removeprefix("MURMUR_") for name in sorted(known)]
    lines = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings matches names case-insensitively
        if not upper.startswith("MURMUR_") or upper in known or upper in OTHER_VARIABLES:
            continue
        if upper.startswith(OTHER_PREFIXES):
            continue
        # compared without the prefix, which every name shares
        close = difflib.get_close_matches(upper.removeprefix("MURMUR_"), suffixes, n=1, cutoff=0.7)
        hint = f"; did you mean MURMUR_{close[0]}?" if close else ""
        lines.append(f"unknown setting {name}{hint}")
    return lines
