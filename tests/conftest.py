"""Shared fixtures: a migrated throwaway database, settings, the app and an HTTP client.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set (a fresh database is created
on that server for the run and dropped afterwards). Every test starts with empty tables.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from loguru import logger

import app.models
from app.core.config import Settings
from app.main import create_app
from tests import dbutil

SettingsFactory = Callable[..., Settings]


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
