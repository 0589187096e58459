"""Liveness and readiness: `/health/live` says the process answers, `/health/ready` that the
database does too (Kubernetes routes traffic only to ready pods)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from loguru import logger
from pydantic import BaseModel

from app.core.db import ping
from app.core.errors import DatabaseUnavailableError, Problem

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


_OK = HealthStatus()


@router.get("/live", response_model=HealthStatus)
async def live() -> HealthStatus:
    """The process is up and its event loop answers."""
    return _OK


@router.get(
    "/ready",
    response_model=HealthStatus,
    responses={503: {"model": Problem, "description": "The database does not answer"}},
)
async def ready(request: Request) -> HealthStatus:
    """The service can do its work: the database answers `SELECT 1` in time, on a connection
    of its own (a busy pool is no reason to take the worker out of service)."""
    settings = request.app.state.settings
    try:
        await ping(request.app.state.probe_engine, settings.HEALTH_TIMEOUT)
    except Exception as error:
        logger.warning("readiness check failed: {}", type(error).__name__)
        raise DatabaseUnavailableError("the database did not answer in time") from None
    return _OK
