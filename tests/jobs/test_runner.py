"""One attempt at a job: done with its effect once, retried with backoff, dead at the end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.core.config import Settings
from app.core.db import utcnow
from app.core.jobs import registry
from app.core.jobs.metrics import JobMetrics
from app.core.jobs.models import Job
from app.core.jobs.outbox import backoff, enqueue
from app.core.jobs.runner import Runner
from app.items.models import Item
from tests.factories import create_user
from tests.jobs.probe_tasks import ALWAYS_FAILS, WRITE_ITEM


async def add_job(application: FastAPI, task: str, payload: dict[str, object]) -> int:
    async with application.state.session_factory() as session, session.begin():
        job = await enqueue(session, application.state.settings, task, payload)
    return job.id


async def load(application: FastAPI, job_id: int) -> Job:
    async with application.state.session_factory() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def items_titled(application: FastAPI, title: str) -> int:
    async with application.state.session_factory() as session:
        query = select(func.count()).select_from(Item).where(Item.title == title)
        return int(await session.scalar(query) or 0)


@pytest.fixture
def runner(application: FastAPI) -> Runner:
    return Runner(application.state.session_factory, application.state.settings, JobMetrics())


async def test_a_job_runs_once_even_when_delivered_twice(
    application: FastAPI, runner: Runner
) -> None:
    owner, _ = await create_user(application)
    job_id = await add_job(application, WRITE_ITEM, {"owner": owner, "title": "once"})
    await runner.run(job_id)
    await runner.run(job_id)  # a second delivery of the same message
    job = await load(application, job_id)
    assert (job.status, job.attempts, job.error) == ("done", 1, None)
    assert job.result["attempt"] == 1
    assert await items_titled(application, "once") == 1
    assert runner.metrics.succeeded.labels(WRITE_ITEM)._value.get() == 1


async def test_a_run_that_lost_its_claim_leaves_no_effect(
    application: FastAPI, runner: Runner
) -> None:
    """A worker that outlived its lease (another took the job over) must not commit."""
    owner, _ = await create_user(application)
    job_id = await add_job(application, WRITE_ITEM, {"owner": owner, "title": "late"})
    factory = application.state.session_factory
    job = await runner._claim(job_id, "first-claim")
    assert job is not None
    async with factory() as session, session.begin():  # another worker took it over
        await session.execute(update(Job).where(Job.id == job_id).values(claim="other"))
    known = registry.get(WRITE_ITEM)
    assert known is not None
    assert await runner._attempt(job, known, "first-claim") is False
    assert await items_titled(application, "late") == 0


async def test_a_job_whose_worker_died_is_taken_over_after_its_lease(
    application: FastAPI, runner: Runner
) -> None:
    owner, _ = await create_user(application)
    job_id = await add_job(application, WRITE_ITEM, {"owner": owner, "title": "orphan"})
    assert await runner._claim(job_id, "dead-worker") is not None  # then it was killed
    await runner.run(job_id)  # its lease still holds: nothing happens
    assert (await load(application, job_id)).status == "running"
    async with application.state.session_factory() as session, session.begin():
        expired = utcnow() - timedelta(seconds=1)
        await session.execute(update(Job).where(Job.id == job_id).values(lease_until=expired))
    await runner.run(job_id)
    job = await load(application, job_id)
    assert (job.status, job.attempts) == ("done", 2)
    assert await items_titled(application, "orphan") == 1


async def test_failures_retry_with_backoff_then_the_job_is_dead(
    application: FastAPI, runner: Runner
) -> None:
    settings = application.state.settings
    job_id = await add_job(application, ALWAYS_FAILS, {})
    for attempt in (1, 2):
        before = utcnow()
        await runner.run(job_id)
        job = await load(application, job_id)
        assert (job.status, job.attempts) == ("queued", attempt)
        assert job.error == f"RuntimeError: attempt {attempt} fails on purpose"
        assert job.run_after >= before + backoff(settings, attempt)
        await runner.run(job_id)  # not due yet: nothing happens
        assert (await load(application, job_id)).attempts == attempt
        async with application.state.session_factory() as session, session.begin():
            await session.execute(update(Job).where(Job.id == job_id).values(run_after=utcnow()))
    await runner.run(job_id)
    job = await load(application, job_id)
    assert (job.status, job.attempts, job.finished_at is not None) == ("dead", 3, True)
    assert runner.metrics.retried.labels(ALWAYS_FAILS)._value.get() == 2
    assert runner.metrics.failed.labels(ALWAYS_FAILS)._value.get() == 1


def test_backoff_doubles_up_to_its_cap() -> None:
    settings = Settings(_env_file=None, JOBS_RETRY_BASE_SECONDS=2, JOBS_RETRY_MAX_SECONDS=10)
    delays = [backoff(settings, n).total_seconds() for n in range(1, 6)]
    assert delays == [2, 4, 8, 10, 10]
