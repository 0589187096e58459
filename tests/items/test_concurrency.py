"""Optimistic concurrency: stale writers get 412 and never overwrite a newer version."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.factories import account

ITEMS = "/api/v1/items"


async def test_two_updates_with_the_same_if_match_one_wins(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "start"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    headers = {**user.headers, "If-Match": '"1"'}
    for round_ in range(3):
        current = (await client.get(url, headers=user.headers)).json()
        headers["If-Match"] = f'"{current["version"]}"'
        first, second = await asyncio.gather(
            client.patch(url, json={"title": f"A{round_}"}, headers=headers),
            client.patch(url, json={"title": f"B{round_}"}, headers=headers),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 412], (first.text, second.text)
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        assert_problem(loser, 412, "item_version_conflict")
        stored = (await client.get(url, headers=user.headers)).json()
        assert stored["title"] == winner.json()["title"]
        assert stored["version"] == current["version"] + 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_stale_if_match_is_412_and_changes_nothing(
    client: AsyncClient, application: FastAPI, method: str
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "v1"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    await client.patch(url, json={"title": "v2"}, headers=user.headers)
    body = {"title": "stale"} if method != "DELETE" else None
    stale = await client.request(
        method, url, json=body, headers={**user.headers, "If-Match": '"1"'}
    )
    assert_problem(stale, 412, "item_version_conflict")
    stored = (await client.get(url, headers=user.headers)).json()
    assert stored["title"] == "v2"
    assert stored["version"] == 2


@pytest.mark.parametrize("value", ['W/"1"', "1", '"abc"', '"1", "2"'])
async def test_unusable_if_match_is_412(
    client: AsyncClient, application: FastAPI, value: str
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    response = await client.patch(
        f"{ITEMS}/{item['id']}", json={"title": "x"}, headers={**user.headers, "If-Match": value}
    )
    assert_problem(response, 412)


async def test_matching_or_wildcard_if_match_succeeds(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "t"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    ok = await client.patch(url, json={"title": "a"}, headers={**user.headers, "If-Match": '"1"'})
    assert ok.headers["etag"] == '"2"'
    star = await client.put(url, json={"title": "b"}, headers={**user.headers, "If-Match": "*"})
    assert star.json()["version"] == 3
    gone = await client.delete(url, headers={**user.headers, "If-Match": '"3"'})
    assert gone.status_code == 204


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_concurrent_writes_without_if_match_all_apply(
    client: AsyncClient, application: FastAPI, method: str
) -> None:
    """No If-Match means "change the current version": racing writers never get a 412 they
    did not ask for, and each one's change is a version of its own."""
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "start"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    writers = 8
    responses = await asyncio.gather(
        *(
            client.request(method, url, json={"title": f"w{n}"}, headers=user.headers)
            for n in range(writers)
        )
    )
    assert [r.status_code for r in responses] == [200] * writers, [r.text for r in responses]
    stored = (await client.get(url, headers=user.headers)).json()
    assert stored["version"] == 1 + writers
    assert stored["title"] in {f"w{n}" for n in range(writers)}


async def test_a_write_racing_a_delete_is_404_not_500(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    item = (await client.post(ITEMS, json={"title": "doomed"}, headers=user.headers)).json()
    url = f"{ITEMS}/{item['id']}"
    deleted, patched = await asyncio.gather(
        client.delete(url, headers=user.headers),
        client.patch(url, json={"title": "late"}, headers=user.headers),
    )
    assert deleted.status_code == 204
    assert patched.status_code in {200, 404}, patched.text
