"""The outbox: a job exists iff its transaction committed, and is handed over once."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.jobs import registry
from app.core.jobs.metrics import JobMetrics
from app.core.jobs.models import Job
from app.core.jobs.outbox import UnknownTaskError, enqueue
from app.core.jobs.relay import Relay
from tests.factories import create_user
from tests.jobs.probe_tasks import WRITE_ITEM

pytestmark = pytest.mark.usefixtures("application")


def relay_recording(application: FastAPI, kicked: list[tuple[str, int]]) -> Relay:
    async def kick(task: str, job_id: int) -> None:
        kicked.append((task, job_id))

    settings = application.state.settings
    return Relay(application.state.session_factory, settings, JobMetrics(), kick)


async def count_jobs(application: FastAPI) -> int:
    async with application.state.session_factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Job)) or 0)


async def test_a_rolled_back_transaction_enqueues_nothing(application: FastAPI) -> None:
    owner, _ = await create_user(application)
    async with application.state.session_factory() as session:
        await enqueue(session, application.state.settings, WRITE_ITEM, {"owner": owner})
        await session.rollback()
    kicked: list[tuple[str, int]] = []
    assert await relay_recording(application, kicked).dispatch_due() == 0
    assert kicked == []
    assert await count_jobs(application) == 0


async def test_a_committed_job_is_handed_over_once(application: FastAPI) -> None:
    async with application.state.session_factory() as session, session.begin():
        job = await enqueue(session, application.state.settings, WRITE_ITEM, {"owner": 1})
    relay = relay_recording(application, kicked := [])
    assert await relay.dispatch_due() == 1
    assert await relay.dispatch_due() == 0  # handed over: not again within the lease
    assert kicked == [(WRITE_ITEM, job.id)]
    assert relay.metrics.enqueued.labels(WRITE_ITEM)._value.get() == 1


async def test_a_job_the_broker_refused_is_handed_over_next_round(application: FastAPI) -> None:
    async with application.state.session_factory() as session, session.begin():
        job = await enqueue(session, application.state.settings, WRITE_ITEM, {"owner": 1})

    async def broker_down(_task: str, _job_id: int) -> None:
        raise ConnectionError("broker down")

    settings = application.state.settings
    down = Relay(application.state.session_factory, settings, JobMetrics(), broker_down)
    with pytest.raises(ConnectionError):
        await down.dispatch_due()
    kicked: list[tuple[str, int]] = []
    assert await relay_recording(application, kicked).dispatch_due() == 1
    assert kicked == [(WRITE_ITEM, job.id)]


async def test_the_same_key_is_one_job(application: FastAPI) -> None:
    settings = application.state.settings
    for _ in range(2):
        async with application.state.session_factory() as session, session.begin():
            await enqueue(session, settings, WRITE_ITEM, {"owner": 1}, key="once")
    assert await count_jobs(application) == 1


async def test_an_unknown_task_is_refused_at_enqueue(application: FastAPI) -> None:
    async with application.state.session_factory() as session:
        with pytest.raises(UnknownTaskError):
            await enqueue(session, application.state.settings, "no.such.task")


async def test_periodic_tasks_are_enqueued_once_per_period(application: FastAPI) -> None:
    for _ in range(2):  # two replicas in the same period
        await relay_recording(application, []).schedule_periodic()
    async with application.state.session_factory() as session:
        tasks = list(await session.scalars(select(Job.task).order_by(Job.task)))
    periodic = [known.name for known in registry.tasks() if known.every is not None]
    assert tasks == periodic
    assert {"core.purge_idempotency_keys", "items.purge_expired_exports"} <= set(tasks)
