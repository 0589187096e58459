"""Object-level authorization: a user reaches only their own items; others' look missing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.factories import account, service_headers

ITEMS = "/api/v1/items"


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PUT", {"title": "x"}), ("PATCH", {"title": "x"}), ("DELETE", None)],
)
async def test_foreign_item_is_404_for_every_method(
    client: AsyncClient, application: FastAPI, method: str, body: dict[str, str] | None
) -> None:
    owner = await account(application, client)
    intruder = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "mine"}, headers=owner.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    foreign = await client.request(method, url, json=body, headers=intruder.headers)
    missing = await client.request(method, f"{ITEMS}/999999", json=body, headers=intruder.headers)
    first = assert_problem(foreign, 404, "item_not_found")
    second = assert_problem(missing, 404, "item_not_found")
    assert first["title"] == second["title"]
    unchanged = await client.get(url, headers=owner.headers)
    assert unchanged.json() == item


async def test_lists_show_only_own_items(client: AsyncClient, application: FastAPI) -> None:
    alice = await account(application, client)
    bob = await account(application, client)
    await client.post(ITEMS, json={"title": "a"}, headers=alice.headers)
    await client.post(ITEMS, json={"title": "b"}, headers=bob.headers)
    titles = [i["title"] for i in (await client.get(ITEMS, headers=alice.headers)).json()["items"]]
    assert titles == ["a"]


async def test_service_token_and_superuser_see_everything(
    client: AsyncClient, application: FastAPI
) -> None:
    alice = await account(application, client)
    admin = await account(application, client, is_superuser=True)
    item = (await client.post(ITEMS, json={"title": "a"}, headers=alice.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    for headers in (service_headers(application), admin.headers):
        assert (await client.get(url, headers=headers)).status_code == 200
        listed = (await client.get(ITEMS, headers=headers)).json()["items"]
        assert [i["id"] for i in listed] == [item["id"]]
    changed = await client.patch(
        url, json={"title": "by service"}, headers=service_headers(application)
    )
    assert changed.status_code == 200
    assert (await client.delete(url, headers=service_headers(application))).status_code == 204


async def test_user_cannot_create_for_someone_else(
    client: AsyncClient, application: FastAPI
) -> None:
    alice = await account(application, client)
    bob = await account(application, client)
    response = await client.post(
        ITEMS, json={"title": "t", "owner_id": bob.id}, headers=alice.headers
    )
    assert_problem(response, 403, "owner_not_allowed")
    own = await client.post(ITEMS, json={"title": "t", "owner_id": alice.id}, headers=alice.headers)
    assert own.status_code == 201


async def test_service_caller_names_an_existing_owner(
    client: AsyncClient, application: FastAPI
) -> None:
    alice = await account(application, client)
    headers = service_headers(application)
    assert_problem(
        await client.post(ITEMS, json={"title": "t"}, headers=headers), 422, "owner_required"
    )
    assert_problem(
        await client.post(ITEMS, json={"title": "t", "owner_id": 999999}, headers=headers),
        422,
        "owner_not_found",
    )
    made = await client.post(ITEMS, json={"title": "t", "owner_id": alice.id}, headers=headers)
    assert made.status_code == 201
    assert made.json()["owner_id"] == alice.id
    seen = await client.get(f"{ITEMS}/{made.json()['id']}", headers=alice.headers)
    assert seen.status_code == 200
