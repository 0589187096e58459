"""Service settings: environment > `.env` > the defaults below, validated once at start."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal, cast

from fastapi import Depends, Request
from limits import parse
from pydantic import (
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.identity import SERVICE_CODE_PATTERN, SERVICE_NAME_MAX_LENGTH

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
Compression = Literal["gz", "bz2", "xz", "lzma", "tar", "tar.gz", "tar.bz2", "tar.xz", "zip"]

DEFAULT_SECRET_KEY = "change-me-in-production-this-is-not-a-secret"  # noqa: S105
DEFAULT_SUPERUSER_PASSWORD = "changethis-admin-password"  # noqa: S105
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./data/app.db"
DEFAULT_LOGURU_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{extra[request_id]}</cyan> | <cyan>{name}</cyan>:<cyan>{function}</cyan>:"
    "<cyan>{line}</cyan> - <level>{message}</level>"
)
MIN_PROD_SECRET_LENGTH = 32
MIN_PROD_SERVICE_TOKEN_LENGTH = 24


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Every knob of the service. Field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
    )

    # Identity and serving
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    SERVICE_NAME: str = Field(
        default="FastAPI Service Template", min_length=1, max_length=SERVICE_NAME_MAX_LENGTH
    )
    SERVICE_CODE: str = Field(default="fst", pattern=SERVICE_CODE_PATTERN)
    MAJOR_VERSION: int = Field(default=1, ge=0, le=999)
    STATUS: Literal["dev", "prod"] = "dev"
    DOCS_ENABLED: bool | None = None
    FORWARDED_ALLOW_IPS: CsvList = Field(default_factory=list)

    # Production serving (gunicorn.conf.py); see docs/serving.md
    WORKERS: int | None = Field(default=None, ge=1, le=256)
    GUNICORN_TIMEOUT: int = Field(default=30, ge=1, le=3600)
    GRACEFUL_TIMEOUT: int = Field(default=30, ge=1, le=3600)
    KEEPALIVE: int = Field(default=5, ge=1, le=3600)
    MAX_REQUESTS: int = Field(default=10_000, ge=0)
    MAX_REQUESTS_JITTER: int = Field(default=1_000, ge=0)
    GUNICORN_CONTROL_SOCKET: Path | None = None
    PROMETHEUS_MULTIPROC_DIR: Path | None = None

    # Database
    DATABASE_URL: str = DEFAULT_SQLITE_URL
    # No overflow by default: a worker keeps its connections, and waits DB_POOL_TIMEOUT for one.
    DB_POOL_SIZE: int = Field(default=20, ge=1, le=200)
    DB_MAX_OVERFLOW: int = Field(default=0, ge=0, le=200)
    DB_POOL_TIMEOUT: float = Field(default=5.0, gt=0, le=120)
    DB_STATEMENT_TIMEOUT_MS: int = Field(default=15_000, ge=0)
    DB_ECHO: bool = False
    DB_POOL_PRE_PING: bool = False
    MAX_REQUESTS_IN_PROGRESS: int | None = Field(default=None, ge=1)  # None: twice the pool
    ALLOW_SQLITE_IN_PROD: bool = False
    HEALTH_TIMEOUT: float = Field(default=2.0, gt=0, le=60)

    # Logging
    LEVEL: LogLevel = "INFO"
    JSON_LOG: bool = False
    LOGURU_FORMAT: str = DEFAULT_LOGURU_FORMAT
    SAVE: bool = False
    LOG_SAVE_PATH: Path = Path("./logs")
    ROTATION: str = "00:00"
    RETENTION: str = "1 month"
    COMPRESSION: Compression | None = "gz"
    ACCESS_LOG: bool = True

    # Tracing (OpenTelemetry, the standard variables) and error tracking; docs/observability.md
    OTEL_EXPORTER_OTLP_ENDPOINT: str | None = None
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: str | None = None
    OTEL_SDK_DISABLED: bool = False
    OTEL_SERVICE_NAME: str | None = None
    TRACE_TRUSTED_NETWORKS: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32"), ip_network("::1/128")]
    )
    SENTRY_DSN: SecretStr = SecretStr("")

    # Security
    X_TOKEN: SecretStr = SecretStr("")
    SERVICE_TOKEN_REQUIRED: bool = False
    SECRET_KEY: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=15, ge=1, le=60 * 24)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=14, ge=1, le=365)
    OPEN_REGISTRATION: bool = True
    FIRST_SUPERUSER_EMAIL: str = "admin@example.com"
    FIRST_SUPERUSER_PASSWORD: SecretStr = SecretStr(DEFAULT_SUPERUSER_PASSWORD)
    PASSWORD_MIN_LENGTH: int = Field(default=12, ge=8, le=128)
    CORS_ORIGINS: CsvList = Field(default_factory=list)
    TRUSTED_HOSTS: CsvList = Field(default_factory=lambda: ["*"])
    HSTS_SECONDS: int = Field(default=0, ge=0)
    MAX_BODY_BYTES: int = Field(default=1_048_576, ge=1024)
    MAX_HEADER_BYTES: int = Field(default=16_384, ge=1024)

    # Rate limits (the `limits` library's notation) and their storage
    REDIS_URL: str | None = None
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_DEFAULT: str = "600/minute"
    RATE_LIMIT_LOGIN: str = "10/minute"

    # Cache-aside in Redis (REDIS_URL) for item reads; 0 seconds: off
    CACHE_TTL_SECONDS: int = Field(default=0, ge=0, le=86_400)
    CACHE_KEY_PREFIX: str = Field(default="", pattern=r"^[A-Za-z0-9:_-]{0,64}$")
    # Background jobs (docs/jobs.md): the outbox, the relay and the worker
    JOBS_BROKER_URL: str | None = None
    JOBS_CONCURRENCY: int = Field(default=10, ge=1, le=1000)
    JOBS_POLL_SECONDS: float = Field(default=1.0, gt=0, le=60)
    JOBS_LEASE_SECONDS: float = Field(default=60.0, ge=1, le=86_400)
    JOBS_MAX_ATTEMPTS: int = Field(default=5, ge=1, le=100)
    JOBS_RETRY_BASE_SECONDS: float = Field(default=2.0, ge=0, le=3600)
    JOBS_RETRY_MAX_SECONDS: float = Field(default=600.0, ge=0, le=86_400)
    JOBS_DRAIN_SECONDS: float = Field(default=25.0, ge=0, le=3600)
    JOBS_METRICS_PORT: int = Field(default=9100, ge=0, le=65535)
    JOBS_RESULT_DAYS: int = Field(default=7, ge=1, le=3650)
    IDEMPOTENCY_KEY_HOURS: int = Field(default=24, ge=1, le=24 * 30)

    # Metrics
    METRICS_ENABLED: bool = True
    METRICS_TOKEN: SecretStr = SecretStr("")

    @field_validator(
        "FORWARDED_ALLOW_IPS",
        "CORS_ORIGINS",
        "TRUSTED_HOSTS",
        "TRACE_TRUSTED_NETWORKS",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        """Accept `a,b,c` from the environment as well as a JSON list."""
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return json.loads(value) if isinstance(value, str) else value

    @field_validator(
        "COMPRESSION",
        "DOCS_ENABLED",
        "MAX_REQUESTS_IN_PROGRESS",
        "REDIS_URL",
        "JOBS_BROKER_URL",
        "WORKERS",
        "GUNICORN_CONTROL_SOCKET",
        "PROMETHEUS_MULTIPROC_DIR",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SERVICE_NAME",
        mode="before",
    )
    @classmethod
    def _none_word(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in {"", "none"} else value

    @field_validator("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an OTLP/HTTP URL, e.g. http://collector:4318")
        return value

    @field_validator("SENTRY_DSN")
    @classmethod
    def _dsn(cls, value: SecretStr) -> SecretStr:
        dsn = value.get_secret_value()
        if dsn and not re.match(r"^https?://[^@/\s]+@[^/\s]+/(.+/)?\d+/?$", dsn):
            raise ValueError("expected a DSN like https://<public key>@<host>/<project id>")
        return value

    @field_validator("LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("DATABASE_URL")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("postgres://", "postgresql://")):
            raise ValueError("use an async driver: postgresql+asyncpg://...")
        if value.startswith("sqlite://"):
            raise ValueError("use an async driver: sqlite+aiosqlite:///...")
        if value.startswith("sqlite") and (":memory:" in value or "mode=memory" in value):
            # Each pooled connection would open its own empty database.
            raise ValueError("an in-memory SQLite database is refused: use a file path")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        """Every refused combination in one error, so one failed start names them all."""
        problems = list(self._problems())
        if self.is_prod:
            problems += [f"{problem} when STATUS=prod" for problem in self._unsafe_in_prod()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems(self) -> Iterator[str]:
        if self.CACHE_TTL_SECONDS and not self.REDIS_URL:
            yield "CACHE_TTL_SECONDS needs REDIS_URL"
        for name in ("RATE_LIMIT_DEFAULT", "RATE_LIMIT_LOGIN") if self.RATE_LIMIT_ENABLED else ():
            try:
                parse(getattr(self, name))
            except ValueError:
                yield f"{name}: expected the `limits` notation, e.g. '600/minute'"
        if self.CORS_ORIGINS == ["*"]:
            yield "CORS_ORIGINS='*' is refused: list the allowed origins"
        if self.SERVICE_TOKEN_REQUIRED and not self.service_token:
            yield "X_TOKEN is empty while SERVICE_TOKEN_REQUIRED=true: set a token"
        if self.JOBS_BROKER_URL and not self.JOBS_BROKER_URL.startswith(("redis://", "rediss://")):
            yield "JOBS_BROKER_URL: expected redis://... (or empty: the in-process broker)"

    def _unsafe_in_prod(self) -> Iterator[str]:
        secret = self.SECRET_KEY.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < MIN_PROD_SECRET_LENGTH:
            yield f"SECRET_KEY must be {MIN_PROD_SECRET_LENGTH}+ random characters, not the default"
        if self.is_sqlite and not self.ALLOW_SQLITE_IN_PROD:
            yield "DATABASE_URL is SQLite: use PostgreSQL or set ALLOW_SQLITE_IN_PROD=true"
        if 0 < len(self.service_token) < MIN_PROD_SERVICE_TOKEN_LENGTH:
            yield (
                f"X_TOKEN acts as a superuser: use at least {MIN_PROD_SERVICE_TOKEN_LENGTH} "
                "random characters"
            )
        password = self.FIRST_SUPERUSER_PASSWORD.get_secret_value()
        if password == DEFAULT_SUPERUSER_PASSWORD or len(password) < self.PASSWORD_MIN_LENGTH:
            yield (
                "FIRST_SUPERUSER_PASSWORD must be changed from its default and be at least "
                "PASSWORD_MIN_LENGTH long"
            )

    @property
    def is_prod(self) -> bool:
        return self.STATUS == "prod"

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def cache_prefix(self) -> str:
        """Where this service's cache keys live in a Redis others may share."""
        return self.CACHE_KEY_PREFIX or f"{self.SERVICE_CODE}:cache"

    @property
    def api_prefix(self) -> str:
        return f"/api/v{self.MAJOR_VERSION}"

    @property
    def docs_enabled(self) -> bool:
        return self.DOCS_ENABLED if self.DOCS_ENABLED is not None else not self.is_prod

    @property
    def request_limit(self) -> int:
        """Requests one worker serves at once: beyond twice its pool, they would only wait."""
        pool = self.DB_POOL_SIZE + self.DB_MAX_OVERFLOW
        return self.MAX_REQUESTS_IN_PROGRESS or 2 * pool

    @property
    def otlp_traces_endpoint(self) -> str | None:
        """Where spans go (OTLP/HTTP), as the OpenTelemetry variables say; None: tracing off."""
        if self.OTEL_SDK_DISABLED:
            return None
        if self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
            return self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        base = self.OTEL_EXPORTER_OTLP_ENDPOINT
        return f"{base.rstrip('/')}/v1/traces" if base else None

    @property
    def tracing_enabled(self) -> bool:
        return self.otlp_traces_endpoint is not None

    @property
    def service_token(self) -> str:
        return self.X_TOKEN.get_secret_value()


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every offending variable, for a start that must stop."""
    parts = [
        f"{'.'.join(map(str, item['loc'])) or 'settings'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    ]
    return "invalid configuration: " + "; ".join(parts)


def request_settings(request: Request) -> Settings:
    """The settings of the app serving this request (tests run apps with different ones)."""
    return cast(Settings, request.app.state.settings)


async def _settings_dependency(request: Request) -> Settings:
    # A coroutine: FastAPI calls a plain function dependency in a worker thread.
    return request_settings(request)


SettingsDep = Annotated["Settings", Depends(_settings_dependency)]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; exits with one clear line when they are invalid."""
    try:
        return Settings()
    except ValidationError as error:
        print(describe_validation_error(error), file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
