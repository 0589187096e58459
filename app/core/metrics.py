"""Prometheus metrics: requests by method, route template and status, latency, requests in
progress, build info; `GET /metrics` to scrape them.

Under gunicorn, prometheus_client runs in multiprocess mode (gunicorn.conf.py sets
PROMETHEUS_MULTIPROC_DIR before anything imports it): each worker writes its values to files
in that folder and a scrape, whichever worker answers it, sums every worker, dead ones too.
The metric objects live per app (their own registry), so several apps in one test process
do not count into each other.
"""

from __future__ import annotations

import asyncio
import secrets
from bisect import bisect_left
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from app.core.errors import UnauthorizedError
from app.core.version import BuildInfo

UNMATCHED_ROUTE = "__unmatched__"
OTHER_METHOD = "OTHER"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# How long answers are tallied before they are written: under load one write holds many
# answers, and a scrape answered by another worker sees them at most this much later.
WRITE_EVERY_SECONDS = 0.005


def is_multiprocess() -> bool:
    """Whether prometheus_client chose multiprocess values (it decides once, at its import)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/items/{item_id}`), never the raw path:
    raw paths would make one time series per id. Unmatched requests share one label."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class Metrics:
    """The service's metric families, registered in their own registry.

    Requests are tallied in plain Python and written to the families at most every
    `WRITE_EVERY_SECONDS` (`flush`), not once per request: under gunicorn every write to a
    value is a lock, a `getpid()` system call and an mmap write, and one write of the tally
    costs about as much as a request's whole access line (bench/RESULTS.md). A scrape
    writes its own worker's pending tally first, so what it shows of another worker is at
    most that much behind; the lifespan writes the rest on shutdown.
    """

    def __init__(self, build_info: BuildInfo, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
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
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._gauges: dict[str, Any] = {}
        self._active: dict[str, int] = {}  # requests in progress now, by method
        self._published: dict[str, int] = {}  # what the gauge shows, by method
        self._touched: list[_Series] = []  # the series with answers not yet written
        self._flush_scheduled = False

    def mark_started(self) -> None:
        """Publish the build info from the serving process (called in the lifespan: under
        gunicorn the app is created in the master, and only workers' values are scraped)."""
        self.build_info.labels(**self._build_labels).set(1)

    def request_started(self, method: str) -> str:
        """Count a request in progress until `answered` is called with the label returned
        (its method, or OTHER for an unusual one)."""
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        self._active[method] = self._active.get(method, 0) + 1
        if not self._flush_scheduled:
            self._schedule_flush()
        return method

    def answered(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request, once, for every `request_started` (the request-context
        middleware calls both for every HTTP request); written by the next `flush`."""
        self._active[method] -= 1
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self._new_series(key)
        if series.add(seconds):
            self._touched.append(series)
        if not self._flush_scheduled:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop to wait for
            return
        self._flush_scheduled = True
        loop.call_later(WRITE_EVERY_SECONDS, self.flush)

    def flush(self) -> None:
        """Write what was tallied since the last flush to the metric families.

        Runs on the serving loop (`WRITE_EVERY_SECONDS` after a request started or ended
        with nothing pending), from the scrape before it renders, and in the lifespan on
        shutdown.
        """
        self._flush_scheduled = False
        touched, self._touched = self._touched, []
        for series in touched:
            series.write()
        for method, active in self._active.items():
            if self._published.get(method) != active:
                gauge = self._gauges.get(method)
                if gauge is None:
                    gauge = self._gauges[method] = self.in_progress.labels(method)
                gauge.set(active)
                self._published[method] = active

    def _new_series(self, key: tuple[str, str, int]) -> _Series:
        method, route, status = key
        label_values = (method, route, str(status))
        return _Series(self.requests.labels(*label_values), self.latency.labels(*label_values))

    def render(self) -> bytes:
        """The text exposition: every worker's values in multiprocess mode, else this app's.
        Call `flush` first, on the loop (the scrape does)."""
        if is_multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class _Series:
    """One (method, route, status): its counter and histogram children, and what was
    observed for them since the last write."""

    __slots__ = ("_bucket_counts", "_buckets", "_count", "_counter", "_sum", "_sum_value")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self._counter = counter
        self._count = 0
        self._sum = 0.0
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        # The histogram child's values, one per bucket (not cumulative) and the sum: what
        # its `observe` writes, one observation at a time. Written here a batch at a time;
        # tests/core/test_metrics.py holds the result to what `observe` gives.
        self._buckets: list[Any] = histogram._buckets
        self._sum_value: Any = histogram._sum

    def add(self, seconds: float) -> bool:
        """Tally one answer; True when it is the first since the last write."""
        self._count += 1
        self._sum += seconds
        self._bucket_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        return self._count == 1

    def write(self) -> None:
        self._counter.inc(self._count)
        self._sum_value.inc(self._sum)
        for index, count in enumerate(self._bucket_counts):
            if count:
                self._buckets[index].inc(count)
                self._bucket_counts[index] = 0
        self._count = 0
        self._sum = 0.0


router = APIRouter(tags=["service"])


@router.get("/metrics", include_in_schema=False, response_class=Response)
async def scrape(request: Request) -> Response:
    """Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <it>`."""
    token = request.app.state.settings.METRICS_TOKEN.get_secret_value()
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            credentials.encode(), token.encode()
        ):
            raise UnauthorizedError("a valid metrics token is required")
    metrics: Metrics = request.app.state.metrics
    metrics.flush()  # this worker's latest answers, this request's start included
    # Multiprocess collection reads one file per worker ever started: keep it off the loop.
    body = await run_in_threadpool(metrics.render) if is_multiprocess() else metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
