"""The pool replaces connections PostgreSQL closed while they sat idle, without a ping."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import create_engine
from app.main import create_app
from tests.conftest import SettingsFactory


def plain_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def terminate(database_url: str, pid: int) -> None:
    """What a restart or failover does to an idle connection, from another session."""
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
            ):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"backend {pid} still there")
    finally:
        await admin.close()


@pytest.mark.parametrize("pre_ping", [False, True])
async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    make_settings: SettingsFactory, database_url: str, is_postgres: bool, pre_ping: bool
) -> None:
    if not is_postgres:
        pytest.skip("PostgreSQL closes connections from the server side; SQLite has none")
    engine = create_engine(
        make_settings(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_PRE_PING=pre_ping)
    )
    try:
        first = await backend_pid(engine)
        assert await backend_pid(engine) == first  # the pool keeps and reuses it
        await terminate(database_url, first)
        await asyncio.sleep(0.1)  # the driver reads the close from the socket
        second = await backend_pid(engine)  # no error reaches the caller
        assert second != first
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


async def test_the_service_answers_after_its_idle_connections_were_closed(
    make_settings: SettingsFactory, database_url: str, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("PostgreSQL closes connections from the server side; SQLite has none")
    application = create_app(make_settings(DB_POOL_SIZE=2), configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/health/ready")).status_code == 200
            await terminate(database_url, await backend_pid(application.state.engine))
            await asyncio.sleep(0.1)
            for _ in range(3):  # every request, the first one too
                response = await http.get("/health/ready")
                assert response.status_code == 200, response.text
