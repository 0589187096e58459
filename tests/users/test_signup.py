"""Sign-up: accounts are made with safe defaults, duplicates and role grabs are refused."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import delete, func, select

from app.main import create_app
from app.users.models import User
from tests.assertions import assert_no_secrets, assert_problem
from tests.conftest import SettingsFactory

PASSWORD = "a-long-enough-password"


async def _count_users(application: FastAPI) -> int:
    async with application.state.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_sign_up_creates_a_plain_active_user(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"email": "Ada@Example.com", "password": PASSWORD, "full_name": "Ada"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["is_active"] is True
    assert "roles" not in body
    assert "is_superuser" not in body
    assert_no_secrets(body)
    assert "password" not in response.text


async def test_duplicate_email_is_409_whatever_the_case(
    client: AsyncClient, application: FastAPI
) -> None:
    first = await client.post(
        "/api/v1/users", json={"email": "bo@example.com", "password": PASSWORD}
    )
    assert first.status_code == 201
    again = await client.post(
        "/api/v1/users", json={"email": "BO@example.com", "password": PASSWORD}
    )
    assert_problem(again, 409, "email_already_registered")
    assert await _count_users(application) == 1


async def test_sign_up_cannot_grant_roles(client: AsyncClient, application: FastAPI) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"email": "eve@example.com", "password": PASSWORD, "is_superuser": True},
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["field"] == "body.is_superuser"
    assert await _count_users(application) == 0


async def test_short_password_is_refused(client: AsyncClient, application: FastAPI) -> None:
    response = await client.post(
        "/api/v1/users", json={"email": "c@example.com", "password": "short-pw"}
    )
    assert_problem(response, 422, "weak_password")
    assert "short-pw" not in response.text
    assert await _count_users(application) == 0


async def test_over_long_password_is_refused(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users", json={"email": "d@example.com", "password": "x" * 129}
    )
    assert_problem(response, 422, "validation_error")


async def test_invalid_email_is_422(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users", json={"email": "not-an-email", "password": PASSWORD}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "body.email"


async def test_registration_can_be_closed(make_settings: SettingsFactory) -> None:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport

    from app.main import create_app

    application = create_app(make_settings(OPEN_REGISTRATION=False), configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post(
                "/api/v1/users", json={"email": "f@example.com", "password": PASSWORD}
            )
            assert_problem(response, 403, "registration_closed")
            assert await _count_users(application) == 0


@pytest.mark.parametrize("minimum", [8, 12, 16])
async def test_the_schema_asks_for_the_password_length_the_server_enforces(
    make_settings: SettingsFactory, minimum: int
) -> None:
    """A client generated from /openapi.json sends what the server accepts: the documented
    minLength is the deployed PASSWORD_MIN_LENGTH, on every field that sets a password."""
    application = create_app(make_settings(PASSWORD_MIN_LENGTH=minimum), configure_logging=False)
    schemas = application.openapi()["components"]["schemas"]
    assert schemas["UserCreate"]["properties"]["password"]["minLength"] == minimum
    assert schemas["PasswordChange"]["properties"]["new_password"]["minLength"] == minimum
    assert schemas["UserUpdate"]["properties"]["password"]["anyOf"][0]["minLength"] == minimum
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            short = await client.post(
                "/api/v1/users",
                json={"email": "short@example.com", "password": "p" * (minimum - 1)},
            )
            enough = await client.post(
                "/api/v1/users", json={"email": "enough@example.com", "password": "p" * minimum}
            )
        async with application.state.session_factory() as session, session.begin():
            await session.execute(delete(User))  # this app's rows: no fixture empties them
    assert short.status_code == 422
    assert enough.status_code == 201
