"""Items through HTTP: create, read, list, replace, update, delete."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.factories import account

ITEMS = "/api/v1/items"


async def test_create_returns_201_location_and_etag(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    response = await client.post(
        ITEMS, json={"title": "  First  ", "description": "hello"}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["title"] == "First"
    assert body["owner_id"] == user.id
    assert body["version"] == 1
    assert response.headers["location"] == f"{ITEMS}/{body['id']}"
    assert response.headers["etag"] == '"1"'
    fetched = await client.get(response.headers["location"], headers=user.headers)
    assert fetched.json() == body


async def test_read_has_etag_and_honours_if_none_match(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    read = await client.get(f"{ITEMS}/{item['id']}", headers=user.headers)
    assert read.headers["etag"] == '"1"'
    cached = await client.get(
        f"{ITEMS}/{item['id']}", headers={**user.headers, "If-None-Match": '"1"'}
    )
    assert cached.status_code == 304
    assert cached.content == b""


async def test_put_replaces_and_patch_changes_only_given_fields(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    item = (
        await client.post(ITEMS, json={"title": "t", "description": "d"}, headers=user.headers)
    ).json()
    url = f"{ITEMS}/{item['id']}"
    patched = await client.patch(url, json={"title": "new"}, headers=user.headers)
    assert patched.json()["title"] == "new"
    assert patched.json()["description"] == "d"
    assert patched.json()["version"] == 2
    assert patched.headers["etag"] == '"2"'
    replaced = await client.put(url, json={"title": "whole"}, headers=user.headers)
    assert replaced.json()["description"] == ""
    assert replaced.json()["version"] == 3
    assert replaced.json()["updated_at"] >= replaced.json()["created_at"]


async def test_delete_is_204_then_404(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    assert (await client.delete(url, headers=user.headers)).status_code == 204
    assert_problem(await client.get(url, headers=user.headers), 404, "item_not_found")


async def test_invalid_bodies_are_422(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    for body in (
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": "t", "description": "d" * 5001},
        {"title": "t", "version": 9},
        {"title": 5},
    ):
        assert_problem(await client.post(ITEMS, json=body, headers=user.headers), 422)
    listed = await client.get(ITEMS, headers=user.headers)
    assert listed.json()["items"] == []


async def test_anonymous_caller_is_401(client: AsyncClient) -> None:
    assert_problem(await client.get(ITEMS), 401)
    assert_problem(await client.post(ITEMS, json={"title": "t"}), 401)


async def test_deleting_a_user_deletes_their_items(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    admin = await account(application, client, is_superuser=True)
    assert (
        await client.delete(f"/api/v1/users/{user.id}", headers=admin.headers)
    ).status_code == 204
    assert_problem(await client.get(f"{ITEMS}/{item['id']}", headers=admin.headers), 404)
