"""Load-and-authorize for jobs, and the `Idempotency-Key` a POST may carry."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from app.core.config import SettingsDep
from app.core.db import SessionDep
from app.core.jobs import idempotency
from app.core.jobs.models import Job
from app.core.principal import Principal
from app.core.schemas import RowId
from app.jobs import service
from app.jobs.exceptions import JobNotFoundError
from app.jobs.permissions import JOBS_ADMIN, JOBS_READ
from app.users.dependencies import CurrentPrincipal, RequirePermission

JobReader = Annotated[Principal, Depends(RequirePermission(JOBS_READ))]
JobsAdmin = Annotated[Principal, Depends(RequirePermission(JOBS_ADMIN))]


async def visible_job(job_id: RowId, session: SessionDep, principal: JobReader) -> Job:
    """The job, if the caller may see it; else 404, like a missing one."""
    job = await service.get_visible(session, principal, job_id)
    if job is None:
        raise JobNotFoundError
    return job


VisibleJob = Annotated[Job, Depends(visible_job)]


async def idempotent(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    key: Annotated[
        str | None,
        Header(
            alias=idempotency.HEADER,
            description="Send the same key again to get the first answer again, not a second "
            "change (kept IDEMPOTENCY_KEY_HOURS).",
        ),
    ] = None,
) -> None:
    """With a key: claim it for the caller in this request's transaction, or answer with
    the first request's stored answer."""
    if key is not None:
        scope = "service" if principal.user_id is None else f"user:{principal.user_id}"
        await idempotency.claim(session, settings, request, scope, key)


Idempotent = Depends(idempotent)
