"""JSON access lines: built off the request path, one per request, in the one line schema."""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from loguru import logger

from app.core.accesslog import log_access
from app.core.logging import reset_logging, setup_logging
from app.main import create_app
from tests.conftest import SettingsFactory

# Sent percent-encoded; the access line holds the decoded path.
ODD_PATHS = {
    "/say%20%22hi%22": '/say "hi"',
    "/back%5Cslash": "/back\\slash",
    "/tab%09new%0Aline": "/tab\tnew\nline",
    "/%C3%BCn%C3%AF/%E6%97%A5": "/ünï/日",
    "/%7Bbraces%7D": "/{braces}",
}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    captured = io.StringIO()
    yield captured
    reset_logging()


@asynccontextmanager
async def _client_for(settings: Any) -> AsyncIterator[AsyncClient]:
    application = create_app(settings, configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    # Split on newlines only: a JSON string may hold U+2028, which `splitlines` would cut at.
    return [json.loads(line) for line in stream.getvalue().split("\n") if line]


def _access(stream: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in _records(stream) if r.get("kind") == "access"]


async def test_every_request_gets_one_line_in_order_with_its_fields(
    make_settings: SettingsFactory, stream: io.StringIO
) -> None:
    settings = make_settings(JSON_LOG=True, LEVEL="INFO")
    setup_logging(settings, stream=stream)
    async with _client_for(settings) as http:
        for number in range(300):
            await http.get("/health/live", headers={"X-Request-ID": f"req-{number}"})
        await http.get("/no/such/route", headers={"X-Request-ID": "missing"})
    access = _access(stream)
    assert [r["request_id"] for r in access] == [f"req-{n}" for n in range(300)] + ["missing"]
    first, last = access[0], access[-1]
    assert first["status"] == 200
    assert last["status"] == 404
    assert first["method"] == "GET"
    assert first["path"] == "/health/live"
    assert first["client"] == "127.0.0.1:50000"
    assert first["level"] == "INFO"
    assert first["logger"] == "app.core.accesslog"
    assert first["process"] == os.getpid()
    assert isinstance(first["duration_ms"], float)
    assert first["message"].startswith('127.0.0.1:50000 "GET /health/live" 200 ')
    assert first["time"].endswith("+00:00")
    # The same leading keys, in the same order, as every other JSON line.
    other = next(r for r in _records(stream) if r.get("kind") != "access")
    shared = ["time", "level", "message", "logger"]
    assert list(first)[:4] == shared == list(other)[:4]


async def test_odd_paths_still_make_valid_json(
    make_settings: SettingsFactory, stream: io.StringIO
) -> None:
    settings = make_settings(JSON_LOG=True)
    setup_logging(settings, stream=stream)
    async with _client_for(settings) as http:
        for sent in ODD_PATHS:
            await http.get(sent)
    assert [r["path"] for r in _access(stream)] == list(ODD_PATHS.values())


def test_any_text_from_the_request_round_trips(
    make_settings: SettingsFactory, stream: io.StringIO
) -> None:
    nasty = '"\\\n\r\t\x00\x1f\u2028 é 日本 \U0001f600 {x}'
    setup_logging(make_settings(JSON_LOG=True), stream=stream)
    scope = {"method": nasty, "path": nasty, "client": (nasty, 5000)}
    log_access(scope, 200, 1.25, "rid")
    (record,) = _access(stream)
    assert record["path"] == record["method"] == nasty
    assert record["client"] == f"{nasty}:5000"
    assert record["message"] == f'{nasty}:5000 "{nasty} {nasty}" 200 1.2ms'
    assert record["duration_ms"] == 1.25


async def test_no_access_lines_above_info(
    make_settings: SettingsFactory, stream: io.StringIO
) -> None:
    settings = make_settings(JSON_LOG=True, LEVEL="WARNING")
    setup_logging(settings, stream=stream)
    async with _client_for(settings) as http:
        await http.get("/health/live")
    assert _access(stream) == []


async def test_access_log_off_writes_none(
    make_settings: SettingsFactory, stream: io.StringIO
) -> None:
    settings = make_settings(JSON_LOG=True, ACCESS_LOG=False)
    setup_logging(settings, stream=stream)
    async with _client_for(settings) as http:
        await http.get("/health/live")
    assert _access(stream) == []


async def test_saved_file_gets_the_same_access_lines(
    make_settings: SettingsFactory, stream: io.StringIO, tmp_path: Path
) -> None:
    folder = tmp_path / "saved"
    settings = make_settings(JSON_LOG=True, SAVE=True, LOG_SAVE_PATH=folder)
    setup_logging(settings, stream=stream)
    async with _client_for(settings) as http:
        for number in range(50):
            await http.get("/health/live", headers={"X-Request-ID": f"saved-{number}"})
    logger.remove()
    (saved,) = folder.rglob("*.log")
    in_file = [json.loads(line) for line in saved.read_text().splitlines()]
    file_ids = [r["request_id"] for r in in_file if r.get("kind") == "access"]
    assert file_ids == [f"saved-{n}" for n in range(50)]
    assert file_ids == [r["request_id"] for r in _access(stream)]


async def test_text_lines_stay_loguru_records(
    make_settings: SettingsFactory, stream: io.StringIO
) -> None:
    settings = make_settings(JSON_LOG=False, LOGURU_FORMAT="{message}")
    setup_logging(settings, stream=stream)
    seen: list[dict[str, Any]] = []
    logger.add(lambda message: seen.append(message.record["extra"]), level="INFO")
    async with _client_for(settings) as http:
        await http.get("/health/live", headers={"X-Request-ID": "text-1"})
    access = [extra for extra in seen if extra.get("kind") == "access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "text-1"
    assert access[0]["status"] == 200
    assert '127.0.0.1:50000 "GET /health/live" 200 ' in stream.getvalue()
