"""Holes a hostile user found in accounts, each closed: a cacheable token answer, signed
claims that reached a 500, an unthrottled password oracle, and a sign-up that listed accounts."""

from __future__ import annotations

import time

import jwt
import pytest
from httpx import Response

from app.users.schemas import UserCreate
from tests.assertions import assert_problem
from tests.factories import DEFAULT_PASSWORD
from tests.security.conftest import AppFactory

API = "/api/v1"
LIMITED = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_LOGIN": "3/minute"}


async def test_the_token_answer_is_never_cached(app_factory: AppFactory) -> None:
    async with app_factory() as (_, client):
        await client.post(f"{API}/users", json={"email": "c@example.com", "password": "p" * 16})
        form = {"username": "c@example.com", "password": "p" * 16}
        response = await client.post(f"{API}/auth/token", data=form)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "subject", ["0", "2147483648", "9" * 30, "1" * 5000, "٣", "-1", " 1", "1.0", ""]
)
async def test_a_signed_token_naming_no_possible_account_is_401(
    app_factory: AppFactory, subject: str
) -> None:
    async with app_factory() as (app, client):
        secret = app.state.settings.SECRET_KEY.get_secret_value()
        now = int(time.time())
        claims = {"sub": subject, "gen": 0, "iat": now, "exp": now + 60, "type": "access"}
        token = jwt.encode(claims, secret, algorithm="HS256")
        response = await client.get(f"{API}/items", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "invalid_token")


async def test_current_password_guesses_are_limited_like_logins(app_factory: AppFactory) -> None:
    async with app_factory(**LIMITED) as (_, client):
        email, password = "guess@example.com", DEFAULT_PASSWORD
        await client.post(f"{API}/users", json={"email": email, "password": password})
        token = (
            await client.post(f"{API}/auth/token", data={"username": email, "password": password})
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        change = {"current_password": "wrong-guess-0000", "new_password": "n" * 16}
        statuses = [
            (
                await client.post(f"{API}/users/me/password", json=change, headers=headers)
            ).status_code
            for _ in range(3)
        ]
    assert statuses[-1] == 429  # the sign-up and the login counted too: 3 a minute in all
    assert 400 in statuses


async def test_sign_up_names_no_address_and_is_limited(app_factory: AppFactory) -> None:
    async with app_factory(**LIMITED) as (_, client):
        body = UserCreate(email="taken@example.com", password="p" * 16).model_dump()
        first = await client.post(f"{API}/users", json=body)
        again = await client.post(f"{API}/users", json=body)
        probes = [
            (await client.post(f"{API}/users", json={**body, "email": f"p{n}@example.com"}))
            for n in range(2)
        ]
    assert first.status_code == 201
    problem = assert_problem(again, 409, "email_already_registered")
    assert "taken@example.com" not in again.text
    assert problem.get("detail") is None
    assert_problem(probes[-1], 429, "rate_limited")  # 3 a minute per address


@pytest.mark.parametrize(
    "change", [{"is_superuser": 0}, {"is_active": "false"}, {"full_name": 5}, {"email": ["a"]}]
)
async def test_a_body_value_of_another_json_type_is_refused_not_coerced(
    app_factory: AppFactory, change: dict[str, object]
) -> None:
    """What the schema says is a boolean must be one: `0` granting or taking a role by
    coercion is a mismatch a generated client cannot see coming."""
    async with app_factory() as (app, client):
        await client.post(f"{API}/users", json={"email": "s@example.com", "password": "p" * 16})
        headers = {"X-Token": app.state.settings.service_token}
        users = (await client.get(f"{API}/users", headers=headers)).json()["items"]
        target = next(u for u in users if u["email"] == "s@example.com")
        response = await client.patch(f"{API}/users/{target['id']}", json=change, headers=headers)
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("kind", ["refresh", "api-key", "service-token"])
async def test_wrong_secrets_are_limited_like_passwords(app_factory: AppFactory, kind: str) -> None:
    """Every endpoint that checks a secret is limited like login: after RATE_LIMIT_LOGIN wrong
    ones from an address, even a right one waits (429 with Retry-After)."""
    async with app_factory(**LIMITED) as (app, client):
        email = "secrets@example.com"
        await client.post(f"{API}/users", json={"email": email, "password": DEFAULT_PASSWORD})
        form = {"username": email, "password": DEFAULT_PASSWORD}
        pair = (await client.post(f"{API}/auth/token", data=form)).json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        created = await client.post(
            f"{API}/users/me/api-keys", json={"name": "k", "scopes": ["items:read"]}, headers=bearer
        )
        right = {
            "refresh": pair["refresh_token"],
            "api-key": created.json()["key"],
            "service-token": app.state.settings.service_token,
        }[kind]

        async def attempt(secret: str) -> Response:
            if kind == "refresh":
                return await client.post(f"{API}/auth/refresh", json={"refresh_token": secret})
            header = "X-API-Key" if kind == "api-key" else "X-Token"
            return await client.get(f"{API}/items", headers={header: secret})

        wrong = [(await attempt(f"wrong-{n}")).status_code for n in range(3)]
        last = await attempt(right)
    assert wrong == [401, 401, 401]
    assert_problem(last, 429, "rate_limited")
    assert int(last.headers["retry-after"]) > 0


async def test_a_right_secret_is_never_counted(app_factory: AppFactory) -> None:
    async with app_factory(**LIMITED) as (app, client):
        headers = {"X-Token": app.state.settings.service_token}
        statuses = {
            (await client.get(f"{API}/items", headers=headers)).status_code for _ in range(6)
        }
    assert statuses == {200}
