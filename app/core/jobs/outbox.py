"""`enqueue`: a job row written in the caller's transaction, handed over only once it commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import utcnow
from app.core.jobs import registry
from app.core.jobs.models import DEAD, DONE, QUEUED, Job
from app.core.logging import request_id_var
from app.core.telemetry import inject_trace_context


class UnknownTaskError(LookupError):
    """Enqueueing a name no `@task` declares: a programming error, caught at the call."""


async def enqueue(
    session: AsyncSession,
    settings: Settings,
    task: str,
    payload: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    owner_id: int | None = None,
    run_after: datetime | None = None,
) -> Job:
    """Add a job to the session's transaction: it commits or rolls back with the caller's
    writes. An existing job with the same `key` is returned instead of a second one."""
    known = registry.get(task)
    if known is None:
        raise UnknownTaskError(task)
    chosen = key is not None
    key = key or f"{task}:{uuid.uuid4().hex}"
    if chosen and (existing := await session.scalar(select(Job).where(Job.key == key))):
        return existing
    request_id = request_id_var.get()
    job = Job(
        task=task,
        key=key,
        payload=payload or {},
        status=QUEUED,
        attempts=0,
        max_attempts=known.max_attempts or settings.JOBS_MAX_ATTEMPTS,
        owner_id=owner_id,
        request_id=None if request_id == "-" else request_id,
        trace_context=inject_trace_context() or None,
        run_after=run_after or utcnow(),
    )
    if not chosen:  # a fresh random key: nothing to collide with
        session.add(job)
        await session.flush()
        return job
    try:
        async with session.begin_nested():  # a concurrent twin loses the key, not the request
            session.add(job)
    except IntegrityError:
        found = await session.scalar(select(Job).where(Job.key == key))
        if found is None:
            raise
        return found
    return job


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait before attempt `attempts + 1`: doubling from the base, capped."""
    seconds = settings.JOBS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.JOBS_RETRY_MAX_SECONDS))


async def delete_finished(session: AsyncSession, task: str, ended_before: datetime) -> int:
    """Delete `task`'s done and dead jobs that ended before `ended_before`; how many."""
    gone = await session.execute(
        delete(Job).where(
            Job.task == task, Job.status.in_((DONE, DEAD)), Job.finished_at < ended_before
        )
    )
    return int(gone.rowcount)  # type: ignore[attr-defined]
