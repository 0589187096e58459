"""HTTP for jobs: a job's status and result; the dead-letter list and retry for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.jobs.models import Job
from app.jobs import service
from app.jobs.dependencies import JobsAdmin, VisibleJob
from app.jobs.schemas import JobPage, JobQuery, JobRead

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id:int}", response_model=JobRead, responses=problem_responses(401, 403, 404))
async def read_job(job: VisibleJob) -> Job:
    """A job's status: `queued`, `running`, `done` (with its `result`) or `dead`."""
    return job


@router.get("", response_model=JobPage, responses=problem_responses(401, 403))
async def list_jobs(
    query: Annotated[JobQuery, Query()], _admin: JobsAdmin, session: SessionDep
) -> JobPage:
    """Jobs in one status, newest first: by default the dead ones (jobs:admin)."""
    jobs, next_before = await service.list_page(session, query)
    return JobPage(jobs=[JobRead.model_validate(job) for job in jobs], next_before=next_before)


@router.post(
    "/{job_id:int}/retry", response_model=JobRead, responses=problem_responses(401, 403, 404, 409)
)
async def retry_job(job: VisibleJob, _admin: JobsAdmin, session: SessionDep) -> Job:
    """Run a dead job again, from its first attempt (jobs:admin)."""
    return await service.retry(session, job)
