"""The jobs API's errors."""

from __future__ import annotations

from app.core.errors import ConflictError, NotFoundError


class JobNotFoundError(NotFoundError):
    code = "job_not_found"
    title = "Job not found"


class JobNotRetryableError(ConflictError):
    code = "job_not_retryable"
    title = "Only a dead job can be retried"
