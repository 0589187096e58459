"""Every error leaves the service in the one problem-details envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel, Field

from app.core.config import Settings
from app.core.errors import ConflictError
from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory


class Widget(BaseModel):
    name: str = Field(max_length=20)
    count: int
    secret: str = Field(default="", max_length=5)


probe = APIRouter(prefix="/probe")


@probe.post("/widgets")
async def make_widget(widget: Widget) -> Widget:
    return widget


@probe.get("/conflict")
async def conflict() -> None:
    raise ConflictError("the widget exists")


@probe.get("/boom")
async def boom() -> None:
    raise RuntimeError("database password is hunter2")


async def _client_for(settings: Settings) -> AsyncIterator[AsyncClient]:
    application: FastAPI = create_app(settings, configure_logging=False)
    application.include_router(probe)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def dev_client(make_settings: SettingsFactory) -> AsyncIterator[AsyncClient]:
    async for http in _client_for(make_settings()):
        yield http


@pytest.fixture
async def prod_client(make_settings: SettingsFactory) -> AsyncIterator[AsyncClient]:
    settings = make_settings(
        STATUS="prod",
        SECRET_KEY="p" * 48,
        FIRST_SUPERUSER_PASSWORD="a-long-admin-password-42",
        ALLOW_SQLITE_IN_PROD=True,
    )
    async for http in _client_for(settings):
        yield http


async def test_malformed_json_is_422_problem(dev_client: AsyncClient) -> None:
    response = await dev_client.post(
        "/probe/widgets", content=b'{"name": "a",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["type"] == "json_invalid"


async def test_wrong_type_is_422_with_field_path(dev_client: AsyncClient) -> None:
    response = await dev_client.post("/probe/widgets", json={"name": "a", "count": "many"})
    body = assert_problem(response, 422, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["body.count"]


async def test_missing_field_is_422(dev_client: AsyncClient) -> None:
    response = await dev_client.post("/probe/widgets", json={"name": "a"})
    body = assert_problem(response, 422)
    assert body["errors"][0] == {
        "field": "body.count",
        "message": "Field required",
        "type": "missing",
    }


async def test_rejected_input_is_never_echoed(dev_client: AsyncClient) -> None:
    response = await dev_client.post(
        "/probe/widgets", json={"name": "a", "count": 1, "secret": "topsecretvalue"}
    )
    assert_problem(response, 422)
    assert "topsecretvalue" not in response.text


async def test_unknown_route_is_404_problem(dev_client: AsyncClient) -> None:
    body = assert_problem(await dev_client.get("/no/such/route"), 404, "not_found")
    assert body["instance"] == "/no/such/route"


async def test_wrong_method_is_405_problem(dev_client: AsyncClient) -> None:
    response = await dev_client.delete("/probe/widgets")
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_app_error_keeps_its_status_and_code(dev_client: AsyncClient) -> None:
    body = assert_problem(await dev_client.get("/probe/conflict"), 409, "conflict")
    assert body["detail"] == "the widget exists"
    assert body["type"].endswith(":conflict")


async def test_unhandled_error_in_dev_names_the_error(dev_client: AsyncClient) -> None:
    body = assert_problem(await dev_client.get("/probe/boom"), 500, "internal_error")
    assert "RuntimeError" in body["detail"]


async def test_unhandled_error_in_prod_hides_internals(prod_client: AsyncClient) -> None:
    response = await prod_client.get("/probe/boom", headers={"x-request-id": "boom-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "boom-1"
    assert "detail" not in body
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
