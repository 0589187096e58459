"""The job resource, and the dead letters an admin lists and retries over HTTP."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from app.core.db import utcnow
from app.core.jobs.models import Job
from app.core.jobs.outbox import enqueue
from tests.assertions import assert_problem
from tests.factories import account
from tests.jobrunner import run_due_jobs
from tests.jobs.probe_tasks import ALWAYS_FAILS

JOBS = "/api/v1/jobs"


async def dead_job(application: FastAPI, owner_id: int | None) -> int:
    async with application.state.session_factory() as session, session.begin():
        job = await enqueue(session, application.state.settings, ALWAYS_FAILS, owner_id=owner_id)
    for _ in range(3):
        async with application.state.session_factory() as session, session.begin():
            await session.execute(update(Job).where(Job.id == job.id).values(run_after=utcnow()))
        await run_due_jobs(application)
    return job.id


async def test_admins_list_dead_jobs_and_retry_them(
    client: AsyncClient, application: FastAPI
) -> None:
    admin = await account(application, client, is_superuser=True)
    job_id = await dead_job(application, owner_id=None)
    listed = await client.get(JOBS, params={"status": "dead"}, headers=admin.headers)
    assert listed.status_code == 200, listed.text
    [job] = listed.json()["jobs"]
    assert (job["id"], job["status"], job["attempts"]) == (job_id, "dead", 3)
    assert job["error"] == "RuntimeError: attempt 3 fails on purpose"

    retried = await client.post(f"{JOBS}/{job_id}/retry", headers=admin.headers)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)
    assert await run_due_jobs(application) == [job_id]
    again = await client.post(f"{JOBS}/{job_id}/retry", headers=admin.headers)
    assert_problem(again, 409, "job_not_retryable")


async def test_the_dead_letter_list_pages_newest_first(
    client: AsyncClient, application: FastAPI
) -> None:
    admin = await account(application, client, is_superuser=True)
    ids = [await dead_job(application, owner_id=None) for _ in range(3)]
    first = (await client.get(JOBS, params={"limit": 2}, headers=admin.headers)).json()
    assert [job["id"] for job in first["jobs"]] == ids[::-1][:2]
    params = {"limit": 2, "before": first["next_before"]}
    second = (await client.get(JOBS, params=params, headers=admin.headers)).json()
    assert ([job["id"] for job in second["jobs"]], second["next_before"]) == ([ids[0]], None)


async def test_only_admins_list_and_retry(client: AsyncClient, application: FastAPI) -> None:
    user = await account(application, client)
    job_id = await dead_job(application, owner_id=user.id)
    assert (await client.get(f"{JOBS}/{job_id}", headers=user.headers)).status_code == 200
    assert_problem(await client.get(JOBS, headers=user.headers), 403)
    assert_problem(await client.post(f"{JOBS}/{job_id}/retry", headers=user.headers), 403)


async def test_a_job_without_owner_is_only_the_admins(
    client: AsyncClient, application: FastAPI
) -> None:
    user = await account(application, client)
    admin = await account(application, client, is_superuser=True)
    job_id = await dead_job(application, owner_id=None)
    assert_problem(await client.get(f"{JOBS}/{job_id}", headers=user.headers), 404)
    assert (await client.get(f"{JOBS}/{job_id}", headers=admin.headers)).status_code == 200
    assert_problem(await client.get(f"{JOBS}/999999", headers=admin.headers), 404)
