"""The domain's own permissions: declared by the domain, held by every user for their own
rows, and granted through roles for everyone's (a scaffolded domain gets its own copy)."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.factories import account, service_headers

API = "/api/v1"
ITEMS = f"{API}/items"
DOMAIN = "items"


async def _role_for(
    client: AsyncClient, application: FastAPI, user_id: int, *permissions: str
) -> None:
    headers = service_headers(application)
    name = "-".join(p.replace(":", "-").replace("_", "-") for p in permissions)
    role = {"name": name, "permissions": list(permissions)}
    assert (await client.post(f"{API}/roles", json=role, headers=headers)).status_code == 201
    granted = await client.put(
        f"{API}/users/{user_id}/roles", json={"roles": [name]}, headers=headers
    )
    assert granted.status_code == 200


async def test_the_domain_declares_its_permissions(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    declared = {
        p["name"]: p for p in (await client.get(f"{API}/permissions", headers=user.headers)).json()
    }
    for action, everyone in (
        ("read", True),
        ("write", True),
        ("read_all", False),
        ("write_all", False),
    ):
        assert declared[f"{DOMAIN}:{action}"]["held_by_everyone"] is everyone


async def test_read_all_reads_everyones_rows_and_write_all_changes_them(
    client: AsyncClient, application: FastAPI
) -> None:
    owner, other = await account(application, client), await account(application, client)
    made = (await client.post(ITEMS, json={"title": "owned"}, headers=owner.headers)).json()
    url = f"{ITEMS}/{made['id']}"
    assert_problem(await client.get(url, headers=other.headers), 404, "item_not_found")

    await _role_for(client, application, other.id, f"{DOMAIN}:read_all")
    assert (await client.get(url, headers=other.headers)).status_code == 200
    assert_problem(
        await client.patch(url, json={"title": "x"}, headers=other.headers), 404, "item_not_found"
    )

    await _role_for(client, application, other.id, f"{DOMAIN}:write_all")
    changed = await client.patch(url, json={"title": "changed"}, headers=other.headers)
    assert changed.json()["title"] == "changed"
    for_owner = await client.post(
        ITEMS, json={"title": "given", "owner_id": owner.id}, headers=other.headers
    )
    assert for_owner.json()["owner_id"] == owner.id


async def test_a_key_without_write_cannot_write(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    key = await client.post(
        f"{API}/users/me/api-keys",
        json={"name": "reader", "scopes": [f"{DOMAIN}:read"]},
        headers=user.headers,
    )
    by_key = {"X-API-Key": key.json()["key"]}
    assert (await client.get(ITEMS, headers=by_key)).status_code == 200
    refused = await client.post(ITEMS, json={"title": "x"}, headers=by_key)
    assert_problem(refused, 403, "permission_required")
