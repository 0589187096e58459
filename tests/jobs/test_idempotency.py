"""`Idempotency-Key` on POST: the first answer replayed, never a second row; keys expire."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, update

from app.core.db import utcnow
from app.core.jobs.models import IdempotentAnswer
from app.items.models import Item
from tests.assertions import assert_problem
from tests.factories import account

ITEMS = "/api/v1/items"


async def count_items(application: FastAPI) -> int:
    async with application.state.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Item)) or 0)


async def test_a_retried_create_replays_the_first_answer(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "create-1"}
    first = await client.post(ITEMS, json={"title": "t"}, headers=headers)
    again = await client.post(ITEMS, json={"title": "t"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_items(application) == 1


async def test_keys_belong_to_their_caller(client: AsyncClient, application: FastAPI) -> None:
    one = await account(application, client)
    two = await account(application, client)
    for user in (one, two):
        headers = {**user.headers, "Idempotency-Key": "shared"}
        created = await client.post(ITEMS, json={"title": "t"}, headers=headers)
        assert created.status_code == 201
        assert created.json()["owner_id"] == user.id
    assert await count_items(application) == 2


async def test_a_key_reused_for_another_request_is_refused(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "create-2"}
    assert (await client.post(ITEMS, json={"title": "a"}, headers=headers)).status_code == 201
    changed = await client.post(ITEMS, json={"title": "b"}, headers=headers)
    assert_problem(changed, 422, "idempotency_key_reused")
    assert await count_items(application) == 1


async def test_a_failed_request_keeps_no_key(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "create-3"}
    refused = await client.post(ITEMS, json={"title": "a", "owner_id": 999}, headers=headers)
    assert_problem(refused, 403)
    assert (await client.post(ITEMS, json={"title": "a"}, headers=headers)).status_code == 201


async def test_an_invalid_key_is_refused(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    for key in ("x" * 201, "with space"):
        headers = {**user.headers, "Idempotency-Key": key}
        response = await client.post(ITEMS, json={"title": "a"}, headers=headers)
        assert_problem(response, 422, "invalid_idempotency_key")
    assert await count_items(application) == 0


async def test_an_expired_key_is_a_new_request(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "create-4"}
    first = await client.post(ITEMS, json={"title": "a"}, headers=headers)
    async with application.state.session_factory() as session, session.begin():
        past = utcnow() - timedelta(seconds=1)
        await session.execute(update(IdempotentAnswer).values(expires_at=past))
    second = await client.post(ITEMS, json={"title": "a"}, headers=headers)
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in second.headers


async def test_a_key_still_being_answered_is_a_409(
    client: AsyncClient, application: FastAPI
) -> None:
    """The first request committed, its answer not stored yet (or lost with its process)."""
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "create-5"}
    await client.post(ITEMS, json={"title": "a"}, headers=headers)
    async with application.state.session_factory() as session, session.begin():
        await session.execute(update(IdempotentAnswer).values(status_code=None, body=None))
    pending = await client.post(ITEMS, json={"title": "a"}, headers=headers)
    assert_problem(pending, 409, "idempotency_key_in_progress")
    assert pending.headers["retry-after"] == "1"
    assert await count_items(application) == 1


async def test_concurrent_twins_make_one_row(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "create-6"}
    answers = await asyncio.gather(
        *(client.post(ITEMS, json={"title": "a"}, headers=headers) for _ in range(5))
    )
    assert {answer.status_code for answer in answers} <= {201, 409}
    assert await count_items(application) == 1
