"""What the jobs API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.schemas import MAX_ID

JobStatus = Literal["queued", "running", "done", "dead"]
MAX_PAGE_SIZE = 100


class JobRead(BaseModel):
    """A job as its owner sees it: `result` once it is done, `error` of its last failure."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    task: str
    status: JobStatus
    attempts: int
    max_attempts: int
    run_after: datetime = Field(description="not before this time (later after a failure)")
    result: Any = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class JobPage(BaseModel):
    jobs: list[JobRead]
    next_before: int | None = Field(
        default=None, description="pass as `before` for the next (older) page"
    )


class JobQuery(BaseModel):
    status: JobStatus = "dead"
    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    before: int | None = Field(default=None, ge=1, le=MAX_ID)
