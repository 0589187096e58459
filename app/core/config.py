"""Service settings: environment > `.env` > the defaults below, validated once at start."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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


def _split_csv(value: object) -> object:
    """Accept `a,b,c` from the environment as well as a JSON list."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            import json

            return json.loads(stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Every knob of the service. Field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
    )

    # Identity and serving
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    SERVICE_NAME: str = Field(default="FastAPI Service Template", min_length=1, max_length=100)
    SERVICE_CODE: str = Field(default="fst", pattern=r"^[a-z][a-z0-9-]{1,31}$")
    MAJOR_VERSION: int = Field(default=1, ge=0, le=999)
    STATUS: Literal["dev", "prod"] = "dev"
    DOCS_ENABLED: bool | None = None
    FORWARDED_ALLOW_IPS: CsvList = Field(default_factory=lambda: ["127.0.0.1"])

    # Production serving (gunicorn.conf.py); see the README's "Production serving"
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
    # Connections a worker keeps open (opened on demand, up to this many), so its steady
    # concurrency never churns: an overflow connection is closed on return, and under load
    # that churn (a connect, TLS, statements prepared again) cost 10-13% of an item read
    # (bench/RESULTS.md). With no overflow, a worker holds at most DB_POOL_SIZE; requests
    # beyond that wait up to DB_POOL_TIMEOUT for one.
    DB_POOL_SIZE: int = Field(default=20, ge=1, le=200)
    DB_MAX_OVERFLOW: int = Field(default=0, ge=0, le=200)
    DB_POOL_TIMEOUT: float = Field(default=5.0, gt=0, le=120)
    DB_STATEMENT_TIMEOUT_MS: int = Field(default=15_000, ge=0)
    DB_ECHO: bool = False
    DB_POOL_PRE_PING: bool = False
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
    OTEL_ENABLED: bool = False

    # Security
    X_TOKEN: SecretStr = SecretStr("")
    SERVICE_TOKEN_REQUIRED: bool = False
    SECRET_KEY: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1, le=60 * 24 * 30)
    AUTH_CACHE_SECONDS: float = Field(
        default=5,
        ge=0,
        le=300,
        description="How long a worker may trust an account's active and superuser state it "
        "looked up for a bearer token, instead of reading the account on every request. A "
        "change made through this worker applies at once; one made by another worker or "
        "straight in the database takes up to this long. 0: look the account up every time.",
    )
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
    TRUSTED_PROXIES: CsvList = Field(default_factory=list)

    # Metrics
    METRICS_ENABLED: bool = True
    METRICS_TOKEN: SecretStr = SecretStr("")

    @field_validator(
        "FORWARDED_ALLOW_IPS", "CORS_ORIGINS", "TRUSTED_HOSTS", "TRUSTED_PROXIES", mode="before"
    )
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator(
        "COMPRESSION",
        "DOCS_ENABLED",
        "REDIS_URL",
        "WORKERS",
        "GUNICORN_CONTROL_SOCKET",
        "PROMETHEUS_MULTIPROC_DIR",
        mode="before",
    )
    @classmethod
    def _none_word(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in {"", "none"} else value

    @model_validator(mode="after")
    def _rate_limit_notation(self) -> Settings:
        """Checked only with rate limiting on: `limits` is imported only then (ratelimit.py)."""
        if not self.RATE_LIMIT_ENABLED:
            return self
        from limits import parse

        for name in ("RATE_LIMIT_DEFAULT", "RATE_LIMIT_LOGIN"):
            try:
                parse(getattr(self, name))
            except ValueError:
                raise ValueError(
                    f"{name}: expected the `limits` notation, e.g. '600/minute'"
                ) from None
        return self

    @field_validator("TRUSTED_PROXIES")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        from ipaddress import ip_network

        for entry in value:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError("expected IP addresses or networks, e.g. 10.0.0.0/8") from None
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
            # Each pooled connection would open its own empty database, without the tables.
            raise ValueError("an in-memory SQLite database is refused: use a file path")
        return value

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.CORS_ORIGINS == ["*"]:
            raise ValueError("CORS_ORIGINS='*' is refused: list the allowed origins")
        if self.SERVICE_TOKEN_REQUIRED and not self.service_token:
            raise ValueError("X_TOKEN is empty while SERVICE_TOKEN_REQUIRED=true: set a token")
        if self.STATUS != "prod":
            return self
        secret = self.SECRET_KEY.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < MIN_PROD_SECRET_LENGTH:
            raise ValueError(
                f"SECRET_KEY must be set to a random value of at least "
                f"{MIN_PROD_SECRET_LENGTH} characters when STATUS=prod"
            )
        if self.is_sqlite and not self.ALLOW_SQLITE_IN_PROD:
            raise ValueError(
                "DATABASE_URL is SQLite while STATUS=prod: use PostgreSQL or set "
                "ALLOW_SQLITE_IN_PROD=true"
            )
        if self.service_token and len(self.service_token) < MIN_PROD_SERVICE_TOKEN_LENGTH:
            raise ValueError(
                f"X_TOKEN acts as a superuser: use at least {MIN_PROD_SERVICE_TOKEN_LENGTH} "
                "random characters when STATUS=prod"
            )
        password = self.FIRST_SUPERUSER_PASSWORD.get_secret_value()
        if password == DEFAULT_SUPERUSER_PASSWORD or len(password) < self.PASSWORD_MIN_LENGTH:
            raise ValueError(
                "FIRST_SUPERUSER_PASSWORD must be changed from its default (and be at least "
                "PASSWORD_MIN_LENGTH long) when STATUS=prod"
            )
        return self

    @property
    def is_prod(self) -> bool:
        return self.STATUS == "prod"

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def api_prefix(self) -> str:
        return f"/api/v{self.MAJOR_VERSION}"

    @property
    def docs_enabled(self) -> bool:
        return self.DOCS_ENABLED if self.DOCS_ENABLED is not None else not self.is_prod

    @property
    def service_token(self) -> str:
        return self.X_TOKEN.get_secret_value()


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every offending variable, for a start that must stop."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        name = ".".join(str(p) for p in item["loc"]) or "settings"
        parts.append(f"{name}: {item['msg']}")
    return "invalid configuration: " + "; ".join(parts)


def request_settings(request: Request) -> Settings:
    """The settings of the app serving this request (tests run apps with different ones)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated["Settings", Depends(request_settings)]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; exits with one clear line when they are invalid."""
    try:
        return Settings()
    except ValidationError as error:
        print(describe_validation_error(error), file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
