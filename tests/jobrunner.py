"""Run due jobs in the test's own process through the worker's real `Runner` (no broker):
for tests that check what a job does, not how it travels."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from app.core.db import utcnow
from app.core.jobs.metrics import JobMetrics
from app.core.jobs.models import QUEUED, Job
from app.core.jobs.runner import Runner


async def run_due_jobs(application: FastAPI, metrics: JobMetrics | None = None) -> list[int]:
    """One attempt at every queued, due job; their ids."""
    factory = application.state.session_factory
    runner = Runner(factory, application.state.settings, metrics or JobMetrics())
    async with factory() as session:
        due = select(Job.id).where(Job.status == QUEUED, Job.run_after <= utcnow())
        job_ids = list(await session.scalars(due.order_by(Job.id)))
    for job_id in job_ids:
        await runner.run(job_id)
    return job_ids
