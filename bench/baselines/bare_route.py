"""The least a FastAPI service can do: one route returning the same JSON as /health/live.

No middleware, no error handlers, no logging setup: the floor the full stack is compared with.
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from pydantic import BaseModel


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
_OK = HealthStatus()


@app.get("/health/live", response_model=HealthStatus)
async def live() -> HealthStatus:
    return _OK
