"""A database failure no service translated is a clear 503 in the envelope, never a bare 500."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory
from tests.core.test_db_pool import plain_url


async def list_items_503(settings: Settings) -> dict[str, object]:
    """GET the item list from an app on these settings; it must be the database's 503."""
    application = create_app(settings, configure_logging=False)
    headers = {"X-Token": settings.service_token}
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/api/v1/items", headers=headers)
    body = assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "1"
    return body


async def test_an_unmigrated_database_answers_503(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    body = await list_items_503(settings)
    text = str(body).lower()
    assert "no such table" not in text  # the database's message stays in the log
    assert "select" not in text


async def test_a_database_refusing_connections_answers_503(
    make_settings: SettingsFactory, database_url: str, is_postgres: bool
) -> None:
    """PostgreSQL at its connection limit ("too many clients", SQLSTATE 53300) reaches
    SQLAlchemy as a plain DBAPIError; it is still the 503 of a database that cannot serve."""
    if not is_postgres:
        pytest.skip("a connection limit is PostgreSQL's")
    role = f"no_connections_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        url = make_url(database_url).set(username=role).render_as_string(False)
        body = await list_items_503(make_settings(DATABASE_URL=url))
        assert "too many" not in str(body).lower()  # the reason stays in the log
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
