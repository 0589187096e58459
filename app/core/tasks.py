"""The core's periodic work, found by the worker like a domain's `tasks.py`."""

from __future__ import annotations

from datetime import timedelta

from loguru import logger

from app.core.jobs import idempotency
from app.core.jobs.registry import JobContext, task


@task("core.purge_idempotency_keys", every=timedelta(hours=1))
async def purge_idempotency_keys(job: JobContext) -> dict[str, int]:
    """Safe to repeat: deleting what has expired twice deletes nothing more."""
    deleted = await idempotency.purge_expired(job.session)
    logger.info("deleted {} expired idempotency keys", deleted)
    return {"deleted": deleted}
