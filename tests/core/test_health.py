"""Liveness answers while the process runs; readiness follows the database."""

from __future__ import annotations

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory


async def test_live_is_ok(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_ok_when_database_answers(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_is_503_problem_when_database_is_down(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/unreachable", HEALTH_TIMEOUT=2
    )
    application = create_app(settings, configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            live = await http.get("/health/live")
            ready = await http.get("/health/ready")
    assert live.status_code == 200
    assert_problem(ready, 503, "database_unavailable")
