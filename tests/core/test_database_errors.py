"""A database failure no service translated is a clear 503 in the envelope, never a bare 500."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from loguru import logger
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.core import db, errors
from app.core.config import Settings
from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory
from tests.core.test_db_pool import plain_url
from tests.servers import closed_port

# The asyncpg dialect with its driver loaded (no connection is opened).
PG_DIALECT = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1/x").dialect


async def list_items_503(settings: Settings, took: list[float] | None = None) -> dict[str, object]:
    """GET the item list from an app on these settings; it must be the database's 503.
    The request's own duration (not the app's start) is appended to `took`."""
    application = create_app(settings, configure_logging=False)
    headers = {"X-Token": settings.service_token}
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            started = time.monotonic()
            response = await client.get("/api/v1/items", headers=headers)
            if took is not None:
                took.append(time.monotonic() - started)
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


async def test_a_database_refusing_connects_answers_503(make_settings: SettingsFactory) -> None:
    """A stopped PostgreSQL: the driver's connection refusal is the database's 503, no 500."""
    with closed_port() as port:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"
        await list_items_503(make_settings(DATABASE_URL=url))


async def test_a_server_that_never_answers_costs_at_most_the_pool_timeout(
    make_settings: SettingsFactory,
) -> None:
    """A frozen server takes the connection and says nothing: the connect gives up after
    DB_POOL_TIMEOUT and the request gets the database's 503, not a hang or a 500."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nobody ever answers
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent.getsockname()[1]}/test"
        took: list[float] = []
        await list_items_503(make_settings(DATABASE_URL=url, DB_POOL_TIMEOUT=0.5), took)
        assert took[0] < 0.5 + 1


async def test_a_burst_of_failures_logs_one_line_not_a_traceback_each(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(errors._database_log, "last", -1.0)  # no burst from another test
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    try:
        with closed_port() as port:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"
            settings = make_settings(DATABASE_URL=url)
            application = create_app(settings, configure_logging=False)
            async with LifespanManager(application):
                transport = ASGITransport(app=application)
                async with AsyncClient(transport=transport, base_url="http://t") as client:
                    headers = {"X-Token": settings.service_token}
                    for _ in range(5):
                        response = await client.get("/api/v1/items", headers=headers)
                        assert_problem(response, 503, "database_unavailable")
    finally:
        logger.remove(sink)
    database_lines = [line for line in lines if "database error" in line]
    assert len(database_lines) == 1, lines
    assert "Traceback" not in "".join(lines)


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError(), True),
        (PG_DIALECT.loaded_dbapi.InternalClientError("cannot switch to state 15"), True),
        (PG_DIALECT.loaded_dbapi.IntegrityError("duplicate key"), False),
        (ValueError("a bug of ours"), False),
    ],
)
def test_a_statement_that_failed_with_its_connection_is_the_databases_failure(
    error: Exception, unavailable: bool
) -> None:
    """The class of "the connection is gone or broken" (OS errors, timeouts, asyncpg's state
    broken mid-operation when a server stops) becomes OperationalError (503) and the connection
    is dropped; any other failure keeps SQLAlchemy's own handling."""
    context = SimpleNamespace(
        original_exception=error,
        dialect=PG_DIALECT,
        statement="SELECT 1",
        parameters=(),
        is_disconnect=False,
    )
    translated = db.connection_failed(context)
    assert isinstance(translated, sa_exc.OperationalError) is unavailable
    assert context.is_disconnect is unavailable
