"""Keyset pagination: every row exactly once, stable under inserts, filters and sorts checked."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.factories import Account, account
from tests.items.factories import create_items

ITEMS = "/api/v1/items"
START = datetime(2026, 1, 1, tzinfo=UTC)


async def _walk(
    client: AsyncClient, user: Account, params: dict[str, Any], between: Any = None
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(ITEMS, params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 20)
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            await between()
    raise AssertionError("pagination did not end")


async def test_walk_hundreds_without_duplicates_or_gaps_under_inserts(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    ids = await create_items(application, user.id, 350, start=START)

    async def insert_newer() -> None:
        later = datetime.now(UTC) + timedelta(days=1)
        await create_items(application, user.id, 3, title="late {i}", start=later)

    seen = await _walk(client, user, {"limit": 37}, between=insert_newer)
    seen_ids = [i["id"] for i in seen]
    assert len(seen_ids) == len(set(seen_ids))
    assert seen_ids[: len(ids)] == sorted(ids, reverse=True)


async def test_ties_on_the_sort_key_are_broken_by_id(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    ids = await create_items(application, user.id, 45, title="same")
    seen = await _walk(client, user, {"limit": 10, "sort": "title", "order": "asc"})
    assert [i["id"] for i in seen] == sorted(ids)


@pytest.mark.parametrize(
    ("sort", "order"),
    [("title", "asc"), ("title", "desc"), ("created_at", "asc"), ("created_at", "desc")],
)
async def test_sort_orders(
    client: AsyncClient, application: FastAPI, sort: str, order: str
) -> None:
    user = await account(application, client)
    titles = [f"t{n:03d}" for n in random.sample(range(500), 60)]
    async with application.state.session_factory() as session, session.begin():
        from app.items.models import Item

        for n, title in enumerate(titles):
            session.add(
                Item(title=title, owner_id=user.id, created_at=START + timedelta(minutes=n))
            )
    seen = await _walk(client, user, {"limit": 7, "sort": sort, "order": order})
    keys = [i[sort] for i in seen]
    assert keys == sorted(keys, reverse=order == "desc")
    assert len(seen) == 60


async def test_filters_by_text_and_creation_window(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    await create_items(application, user.id, 10, title="Apple {i}", start=START)
    await create_items(
        application, user.id, 10, title="pear 100% {i}", start=START + timedelta(hours=1)
    )
    apples = await _walk(client, user, {"q": "APPLE", "limit": 3})
    assert len(apples) == 10
    percent = await _walk(client, user, {"q": "100%"})
    assert len(percent) == 10
    underscore = await _walk(client, user, {"q": "_"})
    assert underscore == []
    window = await _walk(
        client,
        user,
        {
            "created_after": (START + timedelta(seconds=3)).isoformat(),
            "created_before": (START + timedelta(seconds=7)).isoformat(),
            "order": "asc",
        },
    )
    assert [i["title"] for i in window] == [f"Apple {n}" for n in range(3, 7)]
    naive = await _walk(client, user, {"created_after": "2026-01-01T01:00:00"})
    assert len(naive) == 10


def raw_cursor(content: object) -> str:
    """A cursor holding any JSON, as a client could craft one."""
    raw = json.dumps(content).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def crafted(value: object, row_id: object = 1, sort: str = "created_at") -> str:
    return raw_cursor({"s": sort, "o": "desc", "v": value, "id": row_id})


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor!!"},
        {"cursor": "e30"},  # {}
        {"cursor": raw_cursor([1, 2])},
        {"cursor": raw_cursor({"s": "title", "o": "asc", "v": "a", "id": 1})},  # other order
        {"cursor": crafted("yesterday")},
        {"cursor": crafted("2026-01-01T00:00:00")},  # no zone
        {"cursor": crafted("99999-01-01T00:00Z")},
        {"cursor": crafted("0001-01-01T00:00+14:00")},  # before year 1 in UTC
        {"cursor": crafted(5)},
        {"cursor": crafted("2026-01-01T00:00Z", "x")},
        {"cursor": crafted("2026-01-01T00:00Z", True)},
        {"cursor": crafted("2026-01-01T00:00Z", 0)},
        {"cursor": crafted("2026-01-01T00:00Z", 2**31)},
        {"cursor": crafted("a\u0000b", sort="title")},
        {"cursor": crafted(["a"], sort="title")},
        {"cursor": "x" * 600},
        {"created_after": "0001-01-01T00:00:00+14:00"},
    ],
)
async def test_bad_cursor_is_422(
    client: AsyncClient, application: FastAPI, params: dict[str, str]
) -> None:
    user = await account(application, client)
    assert_problem(await client.get(ITEMS, params=params, headers=user.headers), 422)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"sort": "owner_id"},
        {"order": "up"},
        {"q": ""},
        {"created_after": "soon"},
        {"unknown": "1"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: AsyncClient, application: FastAPI, params: dict[str, Any]
) -> None:
    user = await account(application, client)
    assert_problem(await client.get(ITEMS, params=params, headers=user.headers), 422)


async def test_default_page_is_20(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    await create_items(application, user.id, 25, start=START)
    page = (await client.get(ITEMS, headers=user.headers)).json()
    assert len(page["items"]) == 20
    assert page["next_cursor"] is not None
