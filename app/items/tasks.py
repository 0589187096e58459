"""Background work of items, run by the job worker (`make worker`; docs/jobs.md).

Each handler may run more than once for one job (a worker killed mid-run): its database
writes commit with the job's `done` mark, and anything else it does must be keyed by
`job.key` so that a second run changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from app.core.jobs.outbox import delete_finished
from app.core.jobs.registry import JobContext, task
from app.items import service
from app.items.schemas import ItemRead

EXPORT_MAX_ITEMS = 10_000


@task(service.EXPORT_TASK)
async def export_items(job: JobContext) -> dict[str, Any]:
    """The owner's items as JSON, kept as the job's result: reading twice is harmless."""
    owner_id = int(job.payload["owner_id"])
    items = await service.owned_by(job.session, owner_id, EXPORT_MAX_ITEMS + 1)
    rows = [ItemRead.model_validate(item).model_dump(mode="json") for item in items]
    return {
        "count": min(len(rows), EXPORT_MAX_ITEMS),
        "truncated": len(rows) > EXPORT_MAX_ITEMS,
        "items": rows[:EXPORT_MAX_ITEMS],
    }


@task("items.purge_expired_exports", every=timedelta(hours=1))
async def purge_expired_exports(job: JobContext) -> dict[str, int]:
    """Exports hold personal data: delete them JOBS_RESULT_DAYS after they end."""
    ended_before = utcnow() - timedelta(days=job.settings.JOBS_RESULT_DAYS)
    return {"deleted": await delete_finished(job.session, service.EXPORT_TASK, ended_before)}
