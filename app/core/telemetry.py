"""OpenTelemetry tracing, on when an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_*`).

Off, nothing here runs per request and the SDK is never imported. On, FastAPI's own
instrumentation makes the request span (named by route template), SQLAlchemy's and httpx's
make the database and outbound spans, and spans leave over OTLP/HTTP. The provider is made in
the serving process (the lifespan runs after gunicorn's fork): an exporter thread does not
survive a fork.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from importlib.util import find_spec
from ipaddress import ip_address
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from app.core.config import Settings
from app.core.logging import TraceIds, use_trace_ids

TRACER_NAME = "app"
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
NOT_TRACED_PREFIXES = ("/health/", "/metrics")
OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _not_traced(scope: MutableMapping[str, Any]) -> bool:
    """Probes and scrapes would drown the traces that matter."""
    return str(scope.get("path", "")).startswith(NOT_TRACED_PREFIXES)


def fastapi_config(settings: Settings) -> TelemetryConfig:
    """FastAPI's instrumentation: request spans only, and only with tracing on (it checks
    for a provider on every request otherwise)."""
    if not settings.tracing_enabled:
        return OFF
    return {
        "tracing": True,
        "metrics": False,  # prometheus_client counts requests across workers
        "logs": False,  # loguru writes the lines, stamped with the trace
        "auto_configure": False,  # the provider is ours: start_tracing
        "exclude": _not_traced,
    }


def drop_untrusted_trace_context(scope: Scope, settings: Settings) -> None:
    """A caller outside TRACE_TRUSTED_NETWORKS starts a new trace: its `traceparent` could
    force sampling or join our spans to a trace of its choosing."""
    client = scope.get("client")
    try:
        address = ip_address(client[0]) if client else None
    except ValueError:
        address = None
    if address is not None and any(address in net for net in settings.TRACE_TRUSTED_NETWORKS):
        return
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k not in TRACE_HEADERS]


class _Tracing:
    """This process's provider, made once."""

    provider: Any = None
    pid = 0


_tracing = _Tracing()


def start_tracing(settings: Settings, version: str) -> bool:
    """Make this process's tracer provider and exporter (idempotent), and stamp log lines
    with the trace; False when tracing is off. Call it in the process that serves (the
    lifespan; a job worker's start)."""
    endpoint = settings.otlp_traces_endpoint
    if endpoint is None:
        return False
    if _tracing.provider is not None and _tracing.pid == os.getpid():
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            "service.name": settings.OTEL_SERVICE_NAME or settings.SERVICE_CODE,
            "service.version": version,
            "service.instance.id": f"{os.uname().nodename}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER, default all
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _tracing.provider, _tracing.pid = provider, os.getpid()
    if find_spec("httpx") is not None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    use_trace_ids(current_trace_ids)
    return True


def trace_engine(engine: AsyncEngine) -> None:
    """A span per statement on this engine, under the span current when it runs."""
    if _tracing.provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpUpDownCounter

    tracer = _tracing.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    # Pool use is a Prometheus series (app.core.runtime); no OpenTelemetry meter here.
    usage = NoOpUpDownCounter("db.client.connections.usage")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


def stop_tracing() -> None:
    """Send the spans still buffered, then stop the exporter (lifespan shutdown)."""
    provider, _tracing.provider = _tracing.provider, None
    if provider is not None and _tracing.pid == os.getpid():
        use_trace_ids(None)
        provider.shutdown()


def current_trace_ids() -> TraceIds | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def inject_trace_context(carrier: dict[str, str] | None = None) -> dict[str, str]:
    """The current trace context as W3C headers in a dict (empty with tracing off): store it
    with a job when enqueuing, and pass it to `job_span` when running the job."""
    carrier = {} if carrier is None else carrier
    propagate.inject(carrier)
    return carrier


@contextmanager
def job_span(
    name: str, carrier: Mapping[str, str], attributes: Mapping[str, str | int] | None = None
) -> Iterator[trace.Span]:
    """A span for a job run, child of the span that enqueued it (from `carrier`, as made by
    `inject_trace_context`); the job's database and HTTP spans nest under it."""
    parent = propagate.extract(carrier)
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
