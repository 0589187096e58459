"""A job continues the trace of the request that enqueued it: the enqueue stores the W3C
context with the job, and a traced worker process exports the job's span (and its database
statements) as a child of that request's span, over real OTLP/HTTP."""

from __future__ import annotations

import secrets

from fastapi import FastAPI
from opentelemetry import context, propagate

from tests.jobs.test_worker_process import StartWorker, add_job, start_worker, wait_for
from tests.observability.receiver import receiver

__all__ = ["start_worker"]  # the fixture, shared with the worker tests

CONSUMER_KIND = 5  # SPAN_KIND_CONSUMER in the OTLP protobuf


async def test_a_job_span_is_a_child_of_the_enqueuing_request(
    application: FastAPI, start_worker: StartWorker
) -> None:
    trace_id, request_span_id = secrets.token_hex(16), secrets.token_hex(8)
    # The request's span as a traced service holds it while its handler enqueues.
    incoming = propagate.extract({"traceparent": f"00-{trace_id}-{request_span_id}-01"})
    token = context.attach(incoming)
    try:
        job_id = await add_job(application, "traced", sleep=0, request_id="req-traced-1")
    finally:
        context.detach(token)
    with receiver() as (url, received):
        start_worker("traced", OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_BSP_SCHEDULE_DELAY="100")
        await wait_for(application, job_id, "done")
        received.wait_for(lambda: any(s.kind == CONSUMER_KIND for s in received.trace(trace_id)))
        received.wait_for(lambda: len(received.trace(trace_id)) >= 2)
    spans = received.trace(trace_id)
    (job,) = [span for span in spans if span.kind == CONSUMER_KIND]
    assert job.parent_id == request_span_id
    assert job.name == "job tests.write_item"
    assert job.attributes["job.id"] == job_id
    statements = [span for span in spans if span is not job]
    assert statements, "the job's database statements are traced"
    assert all(span.parent_id == job.span_id for span in statements)
    assert any(
        str(span.attributes.get("db.statement", "")).startswith("INSERT INTO items")
        for span in statements
    )
