"""Shared fixtures: a migrated throwaway database, settings, the app and an HTTP client.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set (a fresh database is created
on that server for the run and dropped afterwards). Every test starts with empty tables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from loguru import logger

import app.models
from app.core import security
from app.core.config import Settings
from app.main import create_app
from tests import dbutil

SettingsFactory = Callable[..., Settings]

# The cheapest argon2id the library accepts: the tests hash and verify hundreds of passwords,
# each tens of milliseconds at the deployed cost (19 MiB, 2 passes).
# `production_password_hashing` brings the deployed parameters back for the test that pins
# them. Servers the tests start as processes keep the deployed cost.
CHEAP_ARGON2 = {"ARGON2_MEMORY_KIB": 8, "ARGON2_TIME_COST": 1, "ARGON2_PARALLELISM": 1}
PRODUCTION_ARGON2 = {name: getattr(security, name) for name in CHEAP_ARGON2}


def _use_argon2(patch: pytest.MonkeyPatch, parameters: Mapping[str, int]) -> None:
    for name, value in parameters.items():
        patch.setattr(security, name, value)
    _forget_hashers()


def _forget_hashers() -> None:
    """The hasher and the dummy hash are cached with the parameters they were built with."""
    security._password_hash.cache_clear()
    security._dummy_hash.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        _use_argon2(patch, CHEAP_ARGON2)
        yield
    _forget_hashers()


@pytest.fixture
def production_password_hashing() -> Iterator[None]:
    """argon2id as deployed, for the one test that checks those parameters for real."""
    with pytest.MonkeyPatch.context() as patch:
        _use_argon2(patch, PRODUCTION_ARGON2)
        yield
    _forget_hashers()


@pytest.fixture(scope="session", autouse=True)
def _quiet_logs() -> Iterator[None]:
    """Log to whatever stderr pytest captures at the moment (it swaps the stream per test)."""
    logger.remove()
    logger.add(lambda message: sys.stderr.write(message), level="WARNING")  # noqa: PLW0108
    yield
    logger.remove()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("TEST_DATABASE_URL")
    with dbutil.throwaway_database(server, tmp_path_factory.mktemp("db")) as url:
        dbutil.upgrade(url)
        yield url


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> SettingsFactory:
    """Settings for a test: no `.env`, the test database, and any overrides given."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "LOG_SAVE_PATH": tmp_path / "logs",
            "X_TOKEN": "test-service-token-0123456789",
            "RATE_LIMIT_ENABLED": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


async def _empty_tables(application: FastAPI) -> None:
    async with application.state.engine.begin() as connection:
        for table in reversed(app.models.Base.metadata.sorted_tables):
            await connection.execute(table.delete())


@pytest.fixture
async def application(settings: Settings) -> AsyncIterator[FastAPI]:
    built = create_app(settings, configure_logging=False)
    async with LifespanManager(built):
        try:
            yield built
        finally:
            await _empty_tables(built)


@pytest.fixture
async def client(application: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=application, client=("127.0.0.1", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
