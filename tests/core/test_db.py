"""The database layer: one transaction per request, bounded waits, clear errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select, text

from app.core.db import SessionDep, UTCDateTime
from app.items.models import Item
from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory
from tests.factories import create_user

probe = APIRouter(prefix="/probe")


@probe.post("/half-written")
async def half_written(session: SessionDep) -> None:
    owner = await session.scalar(text("SELECT MIN(id) FROM users"))
    session.add(Item(title="never committed", owner_id=owner))
    await session.flush()
    raise RuntimeError("fails after a write")


@probe.post("/duplicate-owner")
async def duplicate_key(session: SessionDep) -> None:
    session.add(Item(title="orphan", owner_id=999_999))
    await session.flush()


@probe.get("/sleep")
async def hold(session: SessionDep) -> dict[str, int]:
    await session.execute(text("SELECT 1"))
    return {"ok": 1}


@pytest.fixture
async def probe_app(make_settings: SettingsFactory) -> AsyncIterator[FastAPI]:
    settings = make_settings(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=0.3)
    application = create_app(settings, configure_logging=False)
    application.include_router(probe)
    async with LifespanManager(application):
        try:
            yield application
        finally:
            async with application.state.engine.begin() as connection:
                await connection.execute(Item.__table__.delete())
                await connection.execute(text("DELETE FROM users"))


def _client(application: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=application), base_url="http://testserver")


async def test_error_after_a_write_leaves_no_row(probe_app: FastAPI) -> None:
    await create_user(probe_app)
    async with _client(probe_app) as http:
        assert_problem(await http.post("/probe/half-written"), 500, "internal_error")
    async with probe_app.state.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Item)) == 0


async def test_integrity_error_is_409_not_500(probe_app: FastAPI) -> None:
    async with _client(probe_app) as http:
        assert_problem(await http.post("/probe/duplicate-owner"), 409, "conflict")


async def test_pool_exhaustion_is_a_bounded_503(probe_app: FastAPI) -> None:
    async with probe_app.state.engine.connect() as held:
        await held.execute(text("SELECT 1"))
        async with _client(probe_app) as http:
            response = await http.get("/probe/sleep")
    assert_problem(response, 503, "database_busy")
    assert response.headers["retry-after"] == "1"
    async with _client(probe_app) as http:
        assert (await http.get("/probe/sleep")).status_code == 200


async def test_a_busy_pool_leaves_the_worker_ready(probe_app: FastAPI) -> None:
    """Readiness asks the database on a connection of its own: every pooled connection in
    use is load, not a reason to take the worker out of service."""
    async with probe_app.state.engine.connect() as held:
        await held.execute(text("SELECT 1"))
        async with _client(probe_app) as http:
            assert_problem(await http.get("/probe/sleep"), 503, "database_busy")
            assert (await http.get("/health/ready")).status_code == 200


def test_naive_datetimes_are_refused() -> None:
    column_type = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column_type.process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]  # noqa: DTZ001
