"""Tracing and error tracking as an operator receives them: a real gunicorn with two workers
exports OTLP/HTTP and Sentry envelopes to a receiver in the test, and writes JSON log lines.
An authenticated item create arrives as one trace: the request span, named by its route
template, continuing the caller's `traceparent`, with the database statements under it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.core.test_gunicorn import _start
from tests.observability.processes import run_python
from tests.observability.receiver import Received, Span, receiver
from tests.servers import Server

SERVER_KIND = 2  # SPAN_KIND_SERVER in the OTLP protobuf
CLIENT_KIND = 3
ERROR_STATUS = 2


@pytest.fixture
def observed(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Received]]:
    with receiver() as (url, received):
        host_port = url.removeprefix("http://")
        yield from (
            (server, received)
            for server in _start(
                database_url,
                tmp_path,
                app="tests.observability.observed_app:app",
                OTEL_EXPORTER_OTLP_ENDPOINT=url,
                OTEL_BSP_SCHEDULE_DELAY="100",  # the SDK's own variable: export at once
                SENTRY_DSN=f"http://publickey@{host_port}/7",
            )
        )


def _log_lines(tmp_path: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in sorted((tmp_path / "logs").rglob("*.log"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]


def _ancestors(span: Span, by_id: dict[str, Span]) -> list[str]:
    chain = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span.span_id)
    return chain


def _token(http: httpx.Client) -> str:
    email = f"tracer-{secrets.token_hex(4)}@example.com"
    password = "a-long-enough-password"
    created = http.post("/api/v1/users", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    login = http.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def test_an_item_create_arrives_as_one_trace_with_its_statements(
    observed: tuple[Server, Received], tmp_path: Path, is_postgres: bool
) -> None:
    server, received = observed
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
        headers = {"Authorization": f"Bearer {_token(http)}"}
        headers["traceparent"] = f"00-{caller_trace}-{caller_span}-01"
        created = http.post("/api/v1/items", json={"title": "traced"}, headers=headers)
        assert created.status_code == 201, created.text
        request_id = created.headers["x-request-id"]
        assert http.get("/health/ready").status_code == 200

    def request_and_statements_arrived() -> bool:
        kinds = {s.kind for s in received.trace(caller_trace)}
        return {SERVER_KIND, CLIENT_KIND} <= kinds  # they may come in separate batches

    received.wait_for(request_and_statements_arrived)
    spans = received.trace(caller_trace)
    by_id = {span.span_id: span for span in spans}
    (request,) = [span for span in spans if span.kind == SERVER_KIND]
    assert request.name == "POST /api/v1/items"
    assert request.parent_id == caller_span  # the caller's traceparent is continued
    assert request.attributes["http.route"] == "/api/v1/items"
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.response.status_code"] == 201
    assert request.resource["service.name"] == Settings.model_fields["SERVICE_CODE"].default

    statements = [span for span in spans if span.kind == CLIENT_KIND]
    system = "postgresql" if is_postgres else "sqlite"
    for statement in statements:
        assert request.span_id in _ancestors(statement, by_id), statement
        assert statement.attributes["db.system"] == system
    texts = [str(s.attributes.get("db.statement", "")) for s in statements]
    assert any(text.startswith("INSERT INTO items") for text in texts), texts
    assert any(text.startswith("SELECT") and "users" in text for text in texts), texts
    assert {s.name.split()[0] for s in statements} >= {"INSERT", "SELECT"}

    # Probes are not traced; every line of the traced request names its trace and span.
    assert not [s for s in received.spans if "/health/" in str(s.attributes.get("url.path"))]
    lines = [line for line in _log_lines(tmp_path) if line.get("request_id") == request_id]
    assert lines, "no log line of the request"
    assert all(line.get("trace_id") == caller_trace for line in lines), lines
    assert any(line.get("span_id") == request.span_id for line in lines), lines


def test_errors_carry_the_trace_in_the_envelope_and_in_the_error_report(
    observed: tuple[Server, Received],
) -> None:
    server, received = observed
    with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
        token = _token(http)
        missing = http.get("/api/v1/items/987654321", headers={"Authorization": f"Bearer {token}"})
        failed = http.get("/boom")
    assert missing.status_code == 404
    problem = missing.json()
    assert len(problem["trace_id"]) == 32
    assert len(problem["span_id"]) == 16
    assert failed.status_code == 500
    crash = failed.json()
    assert crash["code"] == "internal_error"
    assert len(crash["trace_id"]) == 32

    def request_span(trace_id: str) -> Span:
        received.wait_for(lambda: any(s.kind == SERVER_KIND for s in received.trace(trace_id)))
        (span,) = [s for s in received.trace(trace_id) if s.kind == SERVER_KIND]
        return span

    request = request_span(problem["trace_id"])
    assert (request.span_id, request.name) == (problem["span_id"], "GET /api/v1/items/{item_id}")
    boom = request_span(crash["trace_id"])
    assert boom.status_code == ERROR_STATUS
    assert boom.attributes["http.response.status_code"] == 500

    # The unhandled error reaches the error tracker once, with the ids an operator searches by.
    received.wait_for(lambda: bool(received.envelopes))
    events = [item for envelope in received.envelopes for item in envelope if "exception" in item]
    assert len(events) == 1, received.envelopes
    (event,) = events
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == crash["request_id"]
    assert event["tags"]["trace_id"] == crash["trace_id"]


def test_with_tracing_and_error_tracking_off_their_sdks_are_never_imported(
    database_url: str, tmp_path: Path
) -> None:
    """The default costs nothing: after a start, a request and a shutdown, neither SDK is in
    the process (checked in a process of its own: this one has imported them)."""
    script = """
import asyncio, sys
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from app.main import create_app

async def main():
    app = create_app()
    async with LifespanManager(app):
        async with AsyncClient(transport=ASGITransport(app), base_url="http://t") as client:
            assert (await client.get("/api/v1/items/1")).status_code == 401
            assert (await client.get("/nowhere")).status_code == 404
    loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "sentry_sdk",
        "opentelemetry.instrumentation", "opentelemetry.exporter")))
    print(loaded)

asyncio.run(main())
"""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url, "HOME": str(tmp_path)}
    env["LOG_SAVE_PATH"] = str(tmp_path)
    assert run_python(script, env=env).strip().splitlines()[-1] == "[]"
