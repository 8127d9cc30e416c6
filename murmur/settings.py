"""All configuration, read from MURMUR_* environment variables (nested groups use `__`).

Built once in main()/create_app() and passed down, never read at import time.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Strategy(StrEnum):
    PUSH = "push"
    PULL = "pull"
    HYBRID = "hybrid"


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
    max_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=20, ge=1)
    max_tokens: int = Field(default=2000, ge=50)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_page_size: int = Field(default=100, ge=1)
    # None: on unless environment is production
    introspection: bool | None = None
    graphiql: bool | None = None


class WorkerSettings(BaseModel):
    # fan-out workers started inside the API process (the embedded shape)
    in_process: int = Field(default=2, ge=0)
    batch_size: int = Field(default=10, ge=1, le=10)
    wait_seconds: float = Field(default=1.0, ge=0)
    visibility_timeout_seconds: float = Field(default=60.0, gt=0)
    max_receives: int = Field(default=5, ge=1)
    followers_page_size: int = Field(default=5000, ge=1)
    outbox_grace_seconds: float = Field(default=5.0, ge=0)


class SeedSettings(BaseModel):
    enabled: bool = True
    users: int = Field(default=300, ge=2)
    posts_per_user: int = Field(default=5, ge=0)
    demo_password: str = "murmur-demo"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MURMUR_", env_nested_delimiter="__", extra="ignore")

    profile: Profile = Profile.EMBEDDED
    environment: Literal["development", "production"] = "development"
    fanout: Strategy = Strategy.HYBRID
    hybrid_threshold: int = Field(default=10_000, ge=0)
    timeline_max: int = Field(default=800, ge=1)
    data_dir: Path = Path("data")

    auth: AuthSettings = AuthSettings()
    api: ApiSettings = ApiSettings()
    workers: WorkerSettings = WorkerSettings()
    seed: SeedSettings = SeedSettings()

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.auth.jwt_secret is None and (
            self.profile is not Profile.EMBEDDED or self.environment == "production"
        ):
            raise ValueError("MURMUR_AUTH__JWT_SECRET must be set outside the embedded development profile")
        if self.auth.jwt_secret is not None and len(self.auth.jwt_secret.get_secret_value()) < 32:
            raise ValueError("MURMUR_AUTH__JWT_SECRET must be at least 32 characters")
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.api.introspection if self.api.introspection is not None else not self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.api.graphiql if self.api.graphiql is not None else not self.production

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "murmur.db"

    def jwt_secret(self) -> str:
        """The configured secret, or the embedded dev secret kept in the data dir."""
        if self.auth.jwt_secret is not None:
            return self.auth.jwt_secret.get_secret_value()
        path = self.data_dir / "dev-jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
