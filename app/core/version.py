"""Build info: generated at build time into `version_info.py` (`python -m tools.build_info`,
not committed), read at start and shown at `GET /api/v1/version`."""

from __future__ import annotations

import importlib
from typing import cast

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.core.config import Settings

VERSION_MODULE = "app.core.version_info"
UNKNOWN = "unknown"


class BuildInfo(BaseModel):
    service: str
    version: str
    git_branch: str
    git_revision: str
    git_short_revision: str
    build_date: str


def load_build_info(settings: Settings) -> BuildInfo:
    """The generated module's values, or honest fallbacks when it was never generated."""
    try:
        values = vars(importlib.import_module(VERSION_MODULE))
    except ImportError:
        version = f"v{settings.MAJOR_VERSION}-{settings.STATUS}-{UNKNOWN}"
        values = {"service": settings.SERVICE_NAME, "version": version}
    return BuildInfo(**{name: str(values.get(name, UNKNOWN)) for name in BuildInfo.model_fields})


router = APIRouter(tags=["service"])


@router.get("/version", response_model=BuildInfo)
async def read_version(request: Request) -> BuildInfo:
    """What is running: service, version, git branch and revision, build date."""
    return cast(BuildInfo, request.app.state.build_info)
