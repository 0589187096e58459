"""The pieces of tracing a request and a job meet: trace context only from trusted callers,
and a job's span joined to the request that enqueued it, as exported over OTLP."""

from __future__ import annotations

import pytest

from app.core.config import Settings
from app.core.telemetry import drop_untrusted_trace_context, inject_trace_context
from tests.observability.processes import run_python
from tests.observability.receiver import receiver

TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _scope(client: str | None) -> dict[str, object]:
    headers = [(b"traceparent", TRACEPARENT), (b"tracestate", b"k=v"), (b"baggage", b"a=b")]
    headers.append((b"accept", b"*/*"))
    return {"type": "http", "client": (client, 5000) if client else None, "headers": headers}


@pytest.mark.parametrize(
    ("client", "kept"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("192.0.2.7", False),
        ("not-an-address", False),
        (None, False),
    ],
)
def test_trace_context_is_kept_only_from_trusted_networks(client: str | None, kept: bool) -> None:
    settings = Settings(_env_file=None, TRACE_TRUSTED_NETWORKS="127.0.0.1/32,::1,10.0.0.0/8")  # type: ignore[call-arg]
    scope = _scope(client)
    drop_untrusted_trace_context(scope, settings)
    names = [name for name, _ in scope["headers"]]  # type: ignore[attr-defined]
    assert (b"traceparent" in names) is kept
    assert (b"baggage" in names) is kept
    assert b"accept" in names


def test_with_tracing_off_a_job_carries_no_trace_context() -> None:
    assert inject_trace_context() == {}
    assert inject_trace_context({"task": "x"}) == {"task": "x"}


JOB_SCRIPT = """
import sys
from opentelemetry import trace
from app.core.config import Settings
from app.core.telemetry import inject_trace_context, job_span, start_tracing, stop_tracing

assert start_tracing(Settings(_env_file=None, OTEL_EXPORTER_OTLP_ENDPOINT=sys.argv[1]), "v-test")
with trace.get_tracer("test").start_as_current_span("POST /api/v1/items") as request:
    carrier = inject_trace_context()
    print(format(request.get_span_context().span_id, "016x"))
with job_span("job send_report", carrier, {"job.task": "send_report"}) as span:
    print(format(span.get_span_context().trace_id, "032x"))
stop_tracing()
"""


def test_a_job_span_continues_the_trace_of_the_request_that_enqueued_it() -> None:
    """Enqueue inside a request span, run the job from the carrier alone (as a worker process
    would), and receive both over OTLP: the job's span is the request span's child."""
    with receiver() as (url, received):
        request_span, trace_id = run_python(JOB_SCRIPT, url).split()
        received.wait_for(lambda: len(received.trace(trace_id)) == 2)
    job = next(span for span in received.trace(trace_id) if span.name == "job send_report")
    assert job.parent_id == request_span
    assert job.attributes == {"job.task": "send_report"}
    assert job.kind == 5  # SPAN_KIND_CONSUMER


@pytest.mark.parametrize(
    ("variables", "endpoint"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}, "http://c:4318/v1/traces"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t:443/traces",
            },
            "https://t:443/traces",
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_tracing_follows_the_standard_variables(
    variables: dict[str, str], endpoint: str | None
) -> None:
    settings = Settings.model_validate(variables)
    assert settings.otlp_traces_endpoint == endpoint
    assert settings.tracing_enabled is (endpoint is not None)


@pytest.mark.parametrize(
    "variables",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/v1/traces"},
        {"SENTRY_DSN": "https://sentry.example.com/1"},
        {"SENTRY_DSN": "not a dsn"},
        {"TRACE_TRUSTED_NETWORKS": "10.0.0.0/33"},
    ],
)
def test_a_wrong_endpoint_dsn_or_network_stops_the_start(variables: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(variables))):
        Settings.model_validate(variables)
