"""Bearer tokens and the service token: only valid, current credentials get in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.core.config import Settings
from app.core.security import create_access_token
from tests.assertions import assert_problem
from tests.factories import account, create_user, service_headers

ME = "/api/v1/users/me"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _secret(application: FastAPI) -> str:
    settings: Settings = application.state.settings
    return settings.SECRET_KEY.get_secret_value()


async def test_no_credentials_is_401_with_challenge(client: AsyncClient) -> None:
    response = await client.get(ME)
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_refused(client: AsyncClient, application: FastAPI) -> None:
    user_id, _ = await create_user(application)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    token = create_access_token(str(user_id), _secret(application), 30, now=long_ago)
    assert_problem(await client.get(ME, headers=_bearer(token.token)), 401, "invalid_token")


async def test_tampered_token_is_refused(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    token = user.headers["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(str(user.id).encode(), b"999999")
    ).decode()
    for forged in (f"{header}.{forged_payload}.{signature}", token[:-2] + "xx"):
        assert_problem(await client.get(ME, headers=_bearer(forged)), 401, "invalid_token")


async def test_alg_none_token_is_refused(client: AsyncClient, application: FastAPI) -> None:
    user_id, _ = await create_user(application, is_superuser=True)
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "type": "access",
    }
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    assert_problem(await client.get(ME, headers=_bearer(unsigned)), 401, "invalid_token")


async def test_token_signed_with_another_key_is_refused(
    client: AsyncClient, application: FastAPI
) -> None:
    user_id, _ = await create_user(application)
    token = create_access_token(str(user_id), "another-secret-key-of-enough-length", 5)
    assert_problem(await client.get(ME, headers=_bearer(token.token)), 401, "invalid_token")


async def test_token_of_deleted_user_is_refused(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    deleted = await client.delete(f"/api/v1/users/{user.id}", headers=service_headers(application))
    assert deleted.status_code == 204
    assert_problem(await client.get(ME, headers=user.headers), 401, "invalid_token")


async def test_token_of_deactivated_user_is_refused(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    response = await client.patch(
        f"/api/v1/users/{user.id}", json={"is_active": False}, headers=service_headers(application)
    )
    assert response.json()["is_active"] is False
    assert_problem(await client.get(ME, headers=user.headers), 401, "invalid_token")


async def test_right_service_token_acts_as_superuser(
    client: AsyncClient, application: FastAPI
) -> None:
    await create_user(application)
    response = await client.get("/api/v1/users", headers=service_headers(application))
    assert response.status_code == 200
    assert response.json()["total"] == 1


@pytest.mark.parametrize("presented", ["wrong-token", "", "test-service-token-012345678"])
async def test_wrong_service_token_is_401(client: AsyncClient, presented: str) -> None:
    response = await client.get("/api/v1/users", headers={"X-Token": presented})
    # An empty header is a wrong credential too: a header sent at all must be valid.
    assert_problem(response, 401, "invalid_token")


async def test_service_token_unset_is_never_accepted(make_settings: object) -> None:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport

    from app.main import create_app

    assert callable(make_settings)
    application = create_app(make_settings(X_TOKEN=""), configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/api/v1/users", headers={"X-Token": ""})
    assert_problem(response, 401)


async def test_service_caller_has_no_me(client: AsyncClient, application: FastAPI) -> None:
    response = await client.get(ME, headers=service_headers(application))
    assert_problem(response, 403, "no_user_account")
