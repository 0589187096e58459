"""The relay: hands committed, due jobs to the queue, enqueues periodic tasks, measures the
backlog. Every worker runs one; the row locks and the unique keys let them run side by side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from loguru import logger
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import utcnow
from app.core.jobs import registry
from app.core.jobs.metrics import JobMetrics
from app.core.jobs.models import QUEUED, RUNNING, Job
from app.core.jobs.outbox import enqueue

Kick = Callable[[str, int], Awaitable[None]]
BATCH = 100


def period_start(now: datetime, every: timedelta) -> datetime:
    """The start of the period `now` falls in, counted from the epoch: the same on every
    replica, so its key names one job however many workers enqueue it."""
    seconds = every.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)


class Relay:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        settings: Settings,
        metrics: JobMetrics,
        kick: Kick,
        capacity: Callable[[], int] = lambda: BATCH,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.metrics = metrics
        self.kick = kick
        self.capacity = capacity
        self._scheduled: dict[str, datetime] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; a failed round (database or broker down) is logged and
        tried again next round: committed jobs wait in their table meanwhile."""
        while not stop.is_set():
            try:
                await self.schedule_periodic()
                while await self.dispatch_due() == BATCH and not stop.is_set():
                    pass
                await self.measure()
            except Exception as error:
                logger.warning("job relay round failed, retrying: {!r}", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.JOBS_POLL_SECONDS)

    async def dispatch_due(self) -> int:
        """Hand up to BATCH due jobs to the queue; the number handed over."""
        limit = min(BATCH, self.capacity())
        if limit <= 0:
            return 0
        now = utcnow()
        not_in_flight = or_(
            Job.dispatched_at.is_(None),
            Job.dispatched_at < now - timedelta(seconds=self.settings.JOBS_LEASE_SECONDS),
        )
        due = or_(
            and_(Job.status == QUEUED, Job.run_after <= now),
            and_(Job.status == RUNNING, Job.lease_until < now),  # its worker died
        )
        async with self.factory() as session, session.begin():
            rows = (
                await session.execute(
                    select(Job.id, Job.task, Job.attempts, Job.dispatched_at)
                    .where(due, not_in_flight)
                    .order_by(Job.run_after, Job.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await session.execute(
                    update(Job)
                    .where(Job.id.in_([row.id for row in rows]))
                    .values(dispatched_at=now)
                    .execution_options(synchronize_session=False)
                )
        for index, row in enumerate(rows):
            try:
                await self.kick(row.task, row.id)
            except Exception:
                await self._undispatch([later.id for later in rows[index:]])
                raise
            if row.attempts == 0 and row.dispatched_at is None:
                self.metrics.enqueued.labels(row.task).inc()
        return len(rows)

    async def _undispatch(self, job_ids: list[int]) -> None:
        """Jobs the queue did not take are handed over again next round."""
        async with self.factory() as session, session.begin():
            await session.execute(
                update(Job)
                .where(Job.id.in_(job_ids))
                .values(dispatched_at=None)
                .execution_options(synchronize_session=False)
            )

    async def schedule_periodic(self) -> None:
        """Enqueue each periodic task once per period (its key makes replicas agree)."""
        now = utcnow()
        for known in registry.tasks():
            if known.every is None:
                continue
            start = period_start(now, known.every)
            if self._scheduled.get(known.name) == start:
                continue
            async with self.factory() as session, session.begin():
                key = f"{known.name}@{start:%Y-%m-%dT%H:%M:%SZ}"
                await enqueue(session, self.settings, known.name, key=key, run_after=start)
            self._scheduled[known.name] = start

    async def measure(self) -> None:
        now = utcnow()
        async with self.factory() as session:
            depth, oldest = (
                await session.execute(
                    select(func.count(), func.min(Job.run_after)).where(
                        Job.status == QUEUED, Job.run_after <= now
                    )
                )
            ).one()
        self.metrics.queue_depth.set(depth)
        waited = 0.0 if oldest is None else (now - oldest.replace(tzinfo=UTC)).total_seconds()
        self.metrics.oldest_age.set(max(waited, 0.0))
