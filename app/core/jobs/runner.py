"""One attempt at a job: claim it under a lease, run its handler, and record the outcome.

The handler's writes and the `done` mark commit together, and only while this attempt still
holds the claim: a second delivery of the same job, or a run whose lease another worker took
over, changes nothing. That is what makes at-least-once delivery exactly-once in effect."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import suppress
from datetime import timedelta
from typing import Any

from loguru import logger
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import utcnow
from app.core.jobs import registry
from app.core.jobs.metrics import JobMetrics
from app.core.jobs.models import DEAD, DONE, QUEUED, RUNNING, Job
from app.core.jobs.outbox import backoff
from app.core.telemetry import job_span

ERROR_MAX_LENGTH = 2000


class Runner:
    def __init__(
        self, factory: async_sessionmaker[AsyncSession], settings: Settings, metrics: JobMetrics
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.metrics = metrics
        self.lease = timedelta(seconds=settings.JOBS_LEASE_SECONDS)

    async def run(self, job_id: int) -> None:
        """Run job `job_id` if it is due and nobody else holds it; else do nothing."""
        token = uuid.uuid4().hex
        job = await self._claim(job_id, token)
        if job is None:
            return
        known = registry.get(job.task)
        with logger.contextualize(request_id=job.request_id or f"job-{job.id}"):
            if known is None:
                await self._failed(job, token, f"no task named {job.task!r} in this worker")
                return
            self.metrics.started.labels(job.task).inc()
            logger.info("job {} ({}) attempt {} started", job.id, job.task, job.attempts)
            began = time.perf_counter()
            renewing = asyncio.create_task(self._renew(job.id, token))
            attributes: dict[str, str | int] = {
                "job.id": job.id,
                "job.task": job.task,
                "job.attempt": job.attempts,
            }
            try:
                with job_span(f"job {job.task}", job.trace_context or {}, attributes):
                    finished = await self._attempt(job, known, token)
            except Exception as error:  # a handler's failure is the job's, never the worker's
                logger.opt(exception=error).warning("job {} ({}) failed", job.id, job.task)
                await self._failed(job, token, f"{type(error).__name__}: {error}")
                return
            finally:
                renewing.cancel()
                with suppress(asyncio.CancelledError):
                    await renewing
                self.metrics.duration.labels(job.task).observe(time.perf_counter() - began)
            if finished:
                self.metrics.succeeded.labels(job.task).inc()
                logger.info("job {} ({}) done", job.id, job.task)
            else:
                logger.warning("job {} ({}): lease lost, its result discarded", job.id, job.task)

    async def _claim(self, job_id: int, token: str) -> Job | None:
        """Take the job: queued and due, or running under a lease that ran out (its worker
        died). One UPDATE, so two deliveries cannot both win."""
        now = utcnow()
        takeable = or_(
            and_(Job.status == QUEUED, Job.run_after <= now),
            and_(Job.status == RUNNING, Job.lease_until < now),
        )
        async with self.factory() as session, session.begin():
            claimed = await session.execute(
                update(Job)
                .where(Job.id == job_id, takeable)
                .values(
                    status=RUNNING,
                    attempts=Job.attempts + 1,
                    claim=token,
                    lease_until=now + self.lease,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return await session.scalar(select(Job).where(Job.id == job_id))

    async def _attempt(self, job: Job, known: registry.Task, token: str) -> bool:
        """The handler and the `done` mark in one transaction (begun at the handler's first
        statement); False, and nothing kept, if the claim was lost meanwhile."""
        async with self.factory() as session:
            context = registry.JobContext(
                session,
                self.settings,
                job.id,
                job.key,
                job.attempts,
                job.owner_id,
                dict(job.payload),
            )
            try:
                result = await known.handler(context)
                if await self._finish(session, job.id, token, status=DONE, result=result,
                                      error=None, finished_at=utcnow()):  # fmt: skip
                    await session.commit()
                    return True
            except BaseException:
                await session.rollback()
                raise
            await session.rollback()
            return False

    async def _finish(self, session: AsyncSession, job_id: int, token: str, **values: Any) -> bool:
        now = utcnow()
        changed = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.claim == token, Job.status == RUNNING)
            .values(claim=None, lease_until=None, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]

    async def _failed(self, job: Job, token: str, error: str) -> None:
        """Retry after a backoff, or end dead when the attempts are spent."""
        error = error[:ERROR_MAX_LENGTH]
        now = utcnow()
        async with self.factory() as session, session.begin():
            if job.attempts >= job.max_attempts:
                if await self._finish(session, job.id, token, status=DEAD, error=error,
                                      finished_at=now):  # fmt: skip
                    self.metrics.failed.labels(job.task).inc()
                    logger.error("job {} ({}) dead after {} attempts", job.id, job.task,
                                 job.attempts)  # fmt: skip
                return
            run_after = now + backoff(self.settings, job.attempts)
            if await self._finish(session, job.id, token, status=QUEUED, error=error,
                                  run_after=run_after, dispatched_at=None):  # fmt: skip
                self.metrics.retried.labels(job.task).inc()

    async def _renew(self, job_id: int, token: str) -> None:
        """Extend the lease while the handler runs, so a long job is not taken over."""
        while True:
            await asyncio.sleep(self.settings.JOBS_LEASE_SECONDS / 3)
            try:
                async with self.factory() as session, session.begin():
                    await session.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.claim == token)
                        .values(lease_until=utcnow() + self.lease)
                        .execution_options(synchronize_session=False)
                    )
            except Exception as error:  # the next renewal, or the lease's end, settles it
                logger.warning("job {}: lease not renewed: {!r}", job_id, error)
