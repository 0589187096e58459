"""Superuser routes: refused to normal users, open to superusers and the service caller."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_no_secrets, assert_problem
from tests.factories import account, create_user, service_headers


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/users/1"),
        ("PATCH", "/api/v1/users/1"),
        ("DELETE", "/api/v1/users/1"),
    ],
)
async def test_normal_user_gets_403(
    client: AsyncClient, application: FastAPI, method: str, path: str
) -> None:
    user = await account(application, client)
    response = await client.request(
        method, path, headers=user.headers, json={} if method == "PATCH" else None
    )
    assert_problem(response, 403, "permission_required")


async def test_superuser_lists_users_by_page(client: AsyncClient, application: FastAPI) -> None:
    admin = await account(application, client, is_superuser=True)
    for _ in range(4):
        await create_user(application)
    first = await client.get("/api/v1/users?limit=3", headers=admin.headers)
    second = await client.get("/api/v1/users?limit=3&offset=3", headers=admin.headers)
    assert first.json()["total"] == 5
    ids = [u["id"] for u in first.json()["items"]] + [u["id"] for u in second.json()["items"]]
    assert len(ids) == 5
    assert ids == sorted(set(ids))
    assert_no_secrets(first.json())


async def test_page_size_is_capped(client: AsyncClient, application: FastAPI) -> None:
    response = await client.get("/api/v1/users?limit=1000", headers=service_headers(application))
    assert_problem(response, 422)


async def test_superuser_grants_and_revokes_roles(
    client: AsyncClient, application: FastAPI
) -> None:
    admin = await account(application, client, is_superuser=True)
    user = await account(application, client)
    roles_url = f"/api/v1/users/{user.id}/roles"
    promoted = await client.put(roles_url, json={"roles": ["admin"]}, headers=admin.headers)
    assert promoted.json() == {"roles": ["admin"]}
    assert (await client.get(roles_url, headers=admin.headers)).json() == {"roles": ["admin"]}
    listed = await client.get("/api/v1/users", headers=user.headers)
    assert listed.status_code == 200
    demoted = await client.put(roles_url, json={"roles": []}, headers=admin.headers)
    assert demoted.json() == {"roles": []}
    refused = await client.get("/api/v1/users", headers=user.headers)
    assert_problem(refused, 403, "permission_required")


async def test_missing_user_is_404(client: AsyncClient, application: FastAPI) -> None:
    response = await client.get("/api/v1/users/424242", headers=service_headers(application))
    assert_problem(response, 404, "user_not_found")


async def test_superuser_sets_a_password(client: AsyncClient, application: FastAPI) -> None:
    user_id, email = await create_user(application)
    response = await client.patch(
        f"/api/v1/users/{user_id}",
        json={"password": "set-by-the-administrator"},
        headers=service_headers(application),
    )
    assert response.status_code == 200
    login = await client.post(
        "/api/v1/auth/token", data={"username": email, "password": "set-by-the-administrator"}
    )
    assert login.status_code == 200


async def test_delete_user(client: AsyncClient, application: FastAPI) -> None:
    user_id, _ = await create_user(application)
    headers = service_headers(application)
    assert (await client.delete(f"/api/v1/users/{user_id}", headers=headers)).status_code == 204
    assert_problem(await client.get(f"/api/v1/users/{user_id}", headers=headers), 404)
