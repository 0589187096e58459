"""A user manages their own account, and only the parts that are theirs to change."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_no_secrets, assert_problem
from tests.factories import DEFAULT_PASSWORD, account, create_user, login

ME = "/api/v1/users/me"


async def test_read_me(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    response = await client.get(ME, headers=user.headers)
    assert response.status_code == 200
    assert response.json()["id"] == user.id
    assert_no_secrets(response.json())


async def test_update_own_name_and_email(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    response = await client.patch(
        ME, json={"full_name": "  New Name ", "email": "New@Example.com"}, headers=user.headers
    )
    assert response.status_code == 200
    assert response.json()["full_name"] == "New Name"
    assert response.json()["email"] == "new@example.com"


async def test_cannot_take_an_email_in_use(client: AsyncClient, application: FastAPI) -> None:
    _, taken = await create_user(application)
    user = await account(application, client)
    response = await client.patch(ME, json={"email": taken.upper()}, headers=user.headers)
    assert_problem(response, 409, "email_already_registered")


async def test_cannot_make_oneself_superuser_or_active(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    for field in (
        {"is_superuser": True},
        {"roles": ["admin"]},
        {"is_active": True},
        {"hashed_password": "x"},
    ):
        response = await client.patch(ME, json=field, headers=user.headers)
        assert_problem(response, 422, "validation_error")
    held = (await client.get(f"{ME}/permissions", headers=user.headers)).json()
    assert "items:write" in held
    assert "users:admin" not in held
    assert "*" not in held


async def test_password_change_needs_the_current_password(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    wrong = await client.post(
        f"{ME}/password",
        json={"current_password": "not-my-password", "new_password": "a-brand-new-password"},
        headers=user.headers,
    )
    assert_problem(wrong, 400, "wrong_current_password")
    right = await client.post(
        f"{ME}/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a-brand-new-password"},
        headers=user.headers,
    )
    assert right.status_code == 204
    assert await login(client, user.email, "a-brand-new-password")
    old = await client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": DEFAULT_PASSWORD}
    )
    assert_problem(old, 401, "invalid_credentials")


async def test_new_password_must_be_long_enough(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    response = await client.post(
        f"{ME}/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "short-pw"},
        headers=user.headers,
    )
    assert_problem(response, 422, "weak_password")


async def test_me_is_never_taken_for_an_account_id(
    client: AsyncClient, application: FastAPI
) -> None:
    """`/users/me` is its own resource: a method it lacks is 405 with its own Allow, not a
    422 from `/users/{user_id}`."""
    user = await account(application, client)
    response = await client.delete(ME, headers=user.headers)
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, PATCH"
