"""The least a FastAPI service can do: one route returning the same JSON as /health/live.

No middleware, no error handlers, no logging setup: the floor the full stack is compared with.
Two apps with the one route: `app` is FastAPI as the service configures it (no OpenTelemetry
probe per request while tracing is off), the baseline of the middleware target;
`default_app` is FastAPI with its defaults, which probe for OpenTelemetry providers on every
request, to show what that probe costs.
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


_OK = HealthStatus()


async def live() -> HealthStatus:
    return _OK


def _with_route(app: FastAPI) -> FastAPI:
    app.add_api_route("/health/live", live, methods=["GET"], response_model=HealthStatus)
    return app


NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
app = _with_route(FastAPI(openapi_url=None, docs_url=None, redoc_url=None, telemetry=NO_TELEMETRY))
default_app = _with_route(FastAPI(openapi_url=None, docs_url=None, redoc_url=None))
