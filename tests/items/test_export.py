"""The items export: 202 and a job to poll, done by a worker with the caller's items."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import account
from tests.items.factories import create_items
from tests.jobrunner import run_due_jobs

EXPORTS = "/api/v1/items/exports"


async def test_export_is_accepted_then_done_with_the_callers_items(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    other = await account(application, client)
    mine = await create_items(application, user.id, 3)
    await create_items(application, other.id, 2)
    accepted = await client.post(EXPORTS, headers=user.headers)
    assert accepted.status_code == 202, accepted.text
    job_url = accepted.headers["location"]
    assert job_url == f"/api/v1/jobs/{accepted.json()['id']}"
    assert accepted.json()["status"] == "queued"
    assert (await client.get(job_url, headers=user.headers)).json()["status"] == "queued"

    await run_due_jobs(application)

    job = (await client.get(job_url, headers=user.headers)).json()
    assert job["status"] == "done", job
    assert job["result"]["count"] == 3
    assert [row["id"] for row in job["result"]["items"]] == mine


async def test_someone_elses_export_is_not_found(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    stranger = await account(application, client)
    job_url = (await client.post(EXPORTS, headers=user.headers)).headers["location"]
    assert (await client.get(job_url, headers=stranger.headers)).status_code == 404


async def test_a_retried_export_with_its_key_is_the_same_job(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    headers = {**user.headers, "Idempotency-Key": "export-once"}
    first = await client.post(EXPORTS, headers=headers)
    again = await client.post(EXPORTS, headers=headers)
    assert again.status_code == first.status_code == 202
    assert again.headers["location"] == first.headers["location"]
    assert again.json() == first.json()
    assert await run_due_jobs(application) == [first.json()["id"]]
