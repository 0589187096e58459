"""Prometheus metrics and `GET /metrics`. Under gunicorn prometheus_client runs in
multiprocess mode (gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR first): a scrape sums every
worker's files. Each app has its own registry (apps in one test process do not mix)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from app.core.errors import UnauthorizedError
from app.core.security import is_valid_service_token
from app.core.version import BuildInfo

UNMATCHED_ROUTE = "__unmatched__"
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# prometheus_client picks its values by this variable once, at its import (just above).
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """The service's metric families, registered in their own registry."""

    def __init__(self, build_info: BuildInfo, api_prefix: str = "") -> None:
        self.registry = CollectorRegistry()
        self.api_prefix = api_prefix
        labels = ("method", "route", "status")
        self.requests = Counter(
            "http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival in the app to the end of its response.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served now.",
            ("method",),
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.build_info = Gauge(
            "service_build_info",
            "Build of the running service (value 1).",
            tuple(BuildInfo.model_fields),
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        self._build_labels = build_info.model_dump()

    def mark_started(self) -> None:
        """Publish the build info from the serving process (called in the lifespan: under
        gunicorn the app is created in the master, and only workers' values are scraped)."""
        self.build_info.labels(**self._build_labels).set(1)

    def request_started(self, method: str) -> str:
        """Count a request in progress until `answered` is called with the label returned
        (its method, or OTHER for an unusual one)."""
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        self.in_progress.labels(method).inc()
        return method

    def route_label(self, scope: Scope) -> str:
        """The matched route's template (`/api/v1/items/{item_id}`), never the raw path (one
        series per id); unmatched requests share one label."""
        path = getattr(scope.get("route"), "path_format", None)  # `{id:int}` written `{id}`
        if not isinstance(path, str):
            return UNMATCHED_ROUTE
        return self.api_prefix + path if scope["path"].startswith(self.api_prefix + "/") else path

    def answered(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request, once for every `request_started`."""
        self.in_progress.labels(method).dec()
        label_values = (method, route, str(status))
        self.requests.labels(*label_values).inc()
        self.latency.labels(*label_values).observe(seconds)

    def render(self) -> bytes:
        """The text exposition: every worker's values in multiprocess mode, else this app's."""
        if MULTIPROCESS:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


router = APIRouter(tags=["service"])


@router.get("/metrics", include_in_schema=False, response_class=Response)
async def scrape(request: Request) -> Response:
    """Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <it>`."""
    token = request.app.state.settings.METRICS_TOKEN.get_secret_value()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if token and (scheme.lower() != "bearer" or not is_valid_service_token(credentials, token)):
        raise UnauthorizedError("a valid metrics token is required")
    metrics: Metrics = request.app.state.metrics
    # Multiprocess collection reads one file per worker ever started: keep it off the loop.
    body = await run_in_threadpool(metrics.render) if MULTIPROCESS else metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
