"""API keys: shown once, stored as a digest, scoped, expiring, revocable by their owner or an
admin, accepted wherever a bearer token is, and never more powerful than their owner."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from app.core.db import utcnow
from app.users.models import ApiKey
from tests.assertions import assert_problem
from tests.factories import account, service_headers

API = "/api/v1"
KEYS = f"{API}/users/me/api-keys"


async def _key(client: AsyncClient, headers: dict[str, str], **body: object) -> dict[str, object]:
    response = await client.post(
        KEYS, json={"name": "ci", "scopes": ["items:read"], **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created: dict[str, object] = response.json()
    return created


async def test_a_key_reads_within_its_scopes_and_is_shown_once(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    await client.post(f"{API}/items", json={"title": "mine"}, headers=user.headers)
    created = await _key(client, user.headers)
    key = str(created["key"])
    by_key = {"X-API-Key": key}
    listed = await client.get(f"{API}/items", headers=by_key)
    assert [i["title"] for i in listed.json()["items"]] == ["mine"]
    assert listed.headers["cache-control"] == "no-store"  # credentialed: no shared cache keeps it
    write = await client.post(f"{API}/items", json={"title": "no"}, headers=by_key)
    assert_problem(write, 403, "permission_required")
    mine = (await client.get(KEYS, headers=user.headers)).json()
    assert [k["name"] for k in mine] == ["ci"]
    assert "key" not in mine[0]
    assert key not in str(mine)
    assert mine[0]["last_used_at"] is not None
    async with application.state.session_factory() as session:
        stored = await session.scalar(select(ApiKey))
    assert stored is not None
    assert key not in (stored.key_hash, stored.prefix)


async def test_a_key_never_holds_more_than_its_owner(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    created = await _key(client, user.headers, scopes=["items:read_all", "users:admin"])
    by_key = {"X-API-Key": str(created["key"])}
    assert_problem(await client.get(f"{API}/users", headers=by_key), 403, "permission_required")
    assert (await client.get(f"{API}/users/me/permissions", headers=by_key)).json() == []


async def test_keys_cannot_make_keys_end_sessions_or_change_the_account(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    by_key = {"X-API-Key": str((await _key(client, user.headers, scopes=["*"]))["key"])}
    made = await client.post(KEYS, json={"name": "x", "scopes": ["items:read"]}, headers=by_key)
    assert_problem(made, 403, "session_required")
    out = await client.post(f"{API}/auth/logout-everywhere", headers=by_key)
    assert_problem(out, 403, "session_required")
    renamed = await client.patch(f"{API}/users/me", json={"email": "k@example.com"}, headers=by_key)
    assert_problem(renamed, 403, "session_required")
    change = {"current_password": "x", "new_password": "y" * 16}
    changed = await client.post(f"{API}/users/me/password", json=change, headers=by_key)
    assert_problem(changed, 403, "session_required")


async def test_revoked_expired_and_unknown_keys_are_refused(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    revoked, expiring = await _key(client, user.headers), await _key(client, user.headers)
    gone = await client.delete(f"{KEYS}/{revoked['id']}", headers=user.headers)
    assert gone.status_code == 204
    async with application.state.session_factory() as session, session.begin():
        row = await session.get(ApiKey, expiring["id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    for key in (revoked["key"], expiring["key"], "sk_never-issued"):
        refused = await client.get(f"{API}/items", headers={"X-API-Key": str(key)})
        assert_problem(refused, 401, "invalid_api_key")


async def test_an_admin_lists_and_revokes_anyones_keys_and_others_cannot(
    client: AsyncClient, application: FastAPI
) -> None:
    owner, stranger = await account(application, client), await account(application, client)
    created = await _key(client, owner.headers)
    own_url = f"{KEYS}/{created['id']}"
    assert_problem(await client.delete(own_url, headers=stranger.headers), 404, "api_key_not_found")
    admin = service_headers(application)
    listed = await client.get(f"{API}/users/{owner.id}/api-keys", headers=admin)
    assert [k["id"] for k in listed.json()] == [created["id"]]
    revoked = await client.delete(f"{API}/users/{owner.id}/api-keys/{created['id']}", headers=admin)
    assert revoked.status_code == 204
    refused = await client.get(f"{API}/items", headers={"X-API-Key": str(created["key"])})
    assert_problem(refused, 401, "invalid_api_key")


async def test_a_deactivated_owners_keys_stop_working(
    client: AsyncClient, application: FastAPI
) -> None:
    owner = await account(application, client)
    by_key = {"X-API-Key": str((await _key(client, owner.headers))["key"])}
    off = await client.patch(
        f"{API}/users/{owner.id}", json={"is_active": False}, headers=service_headers(application)
    )
    assert off.status_code == 200
    assert_problem(await client.get(f"{API}/items", headers=by_key), 401, "invalid_api_key")


async def test_scopes_must_be_declared_permissions(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    refused = await client.post(
        KEYS, json={"name": "x", "scopes": ["items:fly"]}, headers=user.headers
    )
    assert_problem(refused, 422, "unknown_permission")


async def test_a_wrong_credential_is_refused_whatever_else_the_request_carries(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    key = {"X-API-Key": str((await _key(client, user.headers))["key"])}
    wrong_key = {"X-API-Key": "sk_wrong"}
    for headers in (
        {**service_headers(application), **wrong_key},
        {**user.headers, **wrong_key},
        {**key, "Authorization": "Bearer not-a-token"},
        {**key, "X-Token": "wrong-service-token"},
    ):
        assert (await client.get(f"{API}/items", headers=headers)).status_code == 401, headers
    both = await client.get(f"{API}/users/me/permissions", headers={**user.headers, **key})
    assert both.json() == ["items:read"]  # a valid key is taken before the token
