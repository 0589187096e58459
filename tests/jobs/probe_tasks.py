"""Tasks for the job tests, loaded by the test process and by worker processes
(`python -m app.worker tests.jobs.probe_tasks`). Writing an item is not idempotent by
itself: one item per job proves a job's effect happened exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from app.core.jobs.registry import JobContext, task
from app.items.models import Item

WRITE_ITEM = "tests.write_item"
ALWAYS_FAILS = "tests.always_fails"


@task(WRITE_ITEM)
async def write_item(job: JobContext) -> dict[str, Any]:
    """Insert an item, then wait `sleep` seconds before the job may commit (a window in which
    a test kills the worker)."""
    item = Item(title=job.payload["title"], description=job.key, owner_id=job.payload["owner"])
    job.session.add(item)
    await job.session.flush()
    await asyncio.sleep(float(job.payload.get("sleep", 0)))
    return {"item_id": item.id, "attempt": job.attempt}


@task(ALWAYS_FAILS, max_attempts=3)
async def always_fails(job: JobContext) -> None:
    raise RuntimeError(f"attempt {job.attempt} fails on purpose")
