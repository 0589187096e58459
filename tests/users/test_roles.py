"""Roles and permissions: admins bundle declared permissions into roles and give them to
accounts; `items:read_all` lets its holder read everyone's items, and nothing more."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from app.core.permissions import declared, held_by_everyone
from tests.assertions import assert_problem
from tests.factories import account, service_headers

API = "/api/v1"


async def test_permissions_are_those_the_domains_declare(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    listed = (await client.get(f"{API}/permissions", headers=user.headers)).json()
    assert {p["name"] for p in listed} == set(declared())
    assert {"items:read", "items:write", "items:read_all", "items:write_all", "users:admin"} <= {
        p["name"] for p in listed
    }
    assert {p["name"] for p in listed if p["held_by_everyone"]} == held_by_everyone()


async def test_a_role_with_read_all_shows_everyones_items_but_changes_none(
    client: AsyncClient, application: FastAPI
) -> None:
    admin = await account(application, client, is_superuser=True)
    auditor, owner = await account(application, client), await account(application, client)
    made = await client.post(f"{API}/items", json={"title": "owned"}, headers=owner.headers)
    item_url = f"{API}/items/{made.json()['id']}"
    assert_problem(await client.get(item_url, headers=auditor.headers), 404, "item_not_found")

    role = await client.post(
        f"{API}/roles",
        json={"name": "auditor", "description": "reads all", "permissions": ["items:read_all"]},
        headers=admin.headers,
    )
    assert role.status_code == 201, role.text
    assert role.json()["permissions"] == ["items:read_all"]
    granted = await client.put(
        f"{API}/users/{auditor.id}/roles", json={"roles": ["auditor"]}, headers=admin.headers
    )
    assert granted.status_code == 200

    assert (await client.get(item_url, headers=auditor.headers)).status_code == 200
    listed = (await client.get(f"{API}/items", headers=auditor.headers)).json()["items"]
    assert [i["owner_id"] for i in listed] == [owner.id]
    change = await client.patch(item_url, json={"title": "mine now"}, headers=auditor.headers)
    assert_problem(change, 404, "item_not_found")  # reading all is not writing all
    foreign = await client.post(
        f"{API}/items", json={"title": "x", "owner_id": owner.id}, headers=auditor.headers
    )
    assert_problem(foreign, 403, "owner_not_allowed")
    assert_problem(
        await client.get(f"{API}/roles", headers=auditor.headers), 403, "permission_required"
    )

    # Taking the permission out of the role applies at the holder's next request.
    edited = await client.patch(
        f"{API}/roles/{role.json()['id']}", json={"permissions": []}, headers=admin.headers
    )
    assert edited.json()["permissions"] == []
    assert_problem(await client.get(item_url, headers=auditor.headers), 404, "item_not_found")


async def test_roles_name_only_declared_permissions_and_are_unique(
    client: AsyncClient, application: FastAPI
) -> None:
    headers = service_headers(application)
    unknown = await client.post(
        f"{API}/roles", json={"name": "x", "permissions": ["items:fly"]}, headers=headers
    )
    assert_problem(unknown, 422, "unknown_permission")
    malformed = await client.post(
        f"{API}/roles", json={"name": "x", "permissions": ["ITEMS"]}, headers=headers
    )
    assert_problem(malformed, 422, "validation_error")
    assert (await client.post(f"{API}/roles", json={"name": "x"}, headers=headers)).is_success
    again = await client.post(f"{API}/roles", json={"name": "x"}, headers=headers)
    assert_problem(again, 409, "role_exists")
    user = await account(application, client)
    missing = await client.put(
        f"{API}/users/{user.id}/roles", json={"roles": ["nobody"]}, headers=headers
    )
    assert_problem(missing, 422, "unknown_role")


async def test_the_admin_role_cannot_be_changed_or_deleted(
    client: AsyncClient, application: FastAPI
) -> None:
    admin = await account(application, client, is_superuser=True)
    roles = (await client.get(f"{API}/roles", headers=admin.headers)).json()
    admin_role = next(r for r in roles if r["name"] == "admin")
    assert admin_role["permissions"] == ["*"]
    url = f"{API}/roles/{admin_role['id']}"
    assert_problem(
        await client.patch(url, json={"permissions": []}, headers=admin.headers),
        409,
        "role_protected",
    )
    assert_problem(await client.delete(url, headers=admin.headers), 409, "role_protected")


async def test_a_deleted_role_is_lost_by_its_holders(
    client: AsyncClient, application: FastAPI
) -> None:
    headers = service_headers(application)
    user = await account(application, client)
    role = await client.post(
        f"{API}/roles",
        json={"name": "user-admins", "permissions": ["users:admin"]},
        headers=headers,
    )
    await client.put(
        f"{API}/users/{user.id}/roles", json={"roles": ["user-admins"]}, headers=headers
    )
    assert (await client.get(f"{API}/users", headers=user.headers)).status_code == 200
    gone = await client.delete(f"{API}/roles/{role.json()['id']}", headers=headers)
    assert gone.status_code == 204
    assert_problem(
        await client.get(f"{API}/users", headers=user.headers), 403, "permission_required"
    )
    assert (await client.get(f"{API}/users/{user.id}/roles", headers=headers)).json() == {
        "roles": []
    }
