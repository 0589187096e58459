"""Reading jobs and the admin's retry of a dead one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.jobs.models import DEAD, QUEUED, Job
from app.core.principal import Principal, may_see
from app.jobs.exceptions import JobNotRetryableError
from app.jobs.permissions import JOBS_ADMIN
from app.jobs.schemas import JobQuery


async def get_visible(session: AsyncSession, principal: Principal, job_id: int) -> Job | None:
    """The job, or None when it does not exist or the caller may not see it (a job with no
    owner is the operators' only)."""
    job = await session.get(Job, job_id)
    if job is None:
        return None
    if job.owner_id is None:
        return job if principal.has(JOBS_ADMIN) else None
    return job if may_see(principal, job.owner_id, JOBS_ADMIN) else None


async def list_page(session: AsyncSession, query: JobQuery) -> tuple[list[Job], int | None]:
    """Jobs in one status, newest first, one page; and the `before` of the next page."""
    statement = select(Job).where(Job.status == query.status)
    if query.before is not None:
        statement = statement.where(Job.id < query.before)
    rows = list(await session.scalars(statement.order_by(Job.id.desc()).limit(query.limit + 1)))
    page = rows[: query.limit]
    return page, page[-1].id if len(rows) > query.limit else None


async def retry(session: AsyncSession, job: Job) -> Job:
    """A dead job gets its attempts back and is due now; a live one is refused."""
    if job.status != DEAD:
        raise JobNotRetryableError(f"job {job.id} is {job.status}")
    job.status = QUEUED
    job.attempts = 0
    job.run_after = utcnow()
    job.dispatched_at = None
    job.finished_at = None
    await session.flush()
    return job
