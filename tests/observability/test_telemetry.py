"""The pieces of tracing a request and a job meet: trace context only from trusted callers,
and a job's span joined to the request that enqueued it, as exported over OTLP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import Settings
from app.core.telemetry import drop_untrusted_trace_context, inject_trace_context
from tests.observability.receiver import receiver

ROOT = Path(__file__).resolve().parents[2]
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
        result = subprocess.run(  # noqa: S603 (our interpreter, our script)
            [sys.executable, "-c", JOB_SCRIPT, url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        request_span, trace_id = result.stdout.split()
        received.wait_for(lambda: len(received.trace(trace_id)) == 2)
    job = next(span for span in received.trace(trace_id) if span.name == "job send_report")
    assert job.parent_id == request_span
    assert job.attributes == {"job.task": "send_report"}
    assert job.kind == 5  # SPAN_KIND_CONSUMER
