"""A database failure no service translated is a clear 503 in the envelope, never a bare 500."""

from __future__ import annotations

from pathlib import Path

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory


async def test_an_unmigrated_database_answers_503(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    application = create_app(settings, configure_logging=False)
    headers = {"X-Token": settings.service_token}
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/api/v1/items", headers=headers)
    body = assert_problem(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == "1"
    text = str(body).lower()
    assert "no such table" not in text  # the database's message stays in the log
    assert "select" not in text
