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

from app.core.accesslog import (
    TEXTS_REMEMBERED,
    LineTexts,
    access_message,
    flush_access_log,
    json_access_line,
)
from app.core.logging import reset_logging, setup_logging, stop_line_writer
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
    flush_access_log()
    reset_logging()


@asynccontextmanager
async def _client_for(settings: Any) -> AsyncIterator[AsyncClient]:
    application = create_app(settings, configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


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
    access = _access(stream)  # the lifespan's shutdown waited for the writer
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


def test_line_format_round_trips_any_text() -> None:
    nasty = '"\\\n\r\t\x00\x1f\u2028 é 日本 \U0001f600 {x}'
    entry = (1_767_225_600.5, (nasty, 5000), "GET", nasty, 200, 1.25, "rid")
    record = json.loads(json_access_line(entry, 7, LineTexts()))
    assert record["path"] == nasty
    assert record["client"] == f"{nasty}:5000"
    assert record["time"] == "2026-01-01T00:00:00.500+00:00"
    assert record["duration_ms"] == 1.25
    # The JSON line's message is the text line's message (it is built inline for speed).
    assert record["message"] == access_message(f"{nasty}:5000", "GET", nasty, 200, 1.25)


def test_an_unusual_method_is_escaped_like_any_other_text() -> None:
    method = 'PURGE"\\'
    entry = (1_767_225_600.0, ("10.0.0.1", 4000), method, "/", 405, 0.5, "rid")
    record = json.loads(json_access_line(entry, 7, LineTexts()))
    assert record["method"] == method
    assert record["message"] == access_message("10.0.0.1:4000", method, "/", 405, 0.5)


def test_lines_that_share_texts_keep_their_own_time_path_and_client() -> None:
    texts = LineTexts()
    first = (1_767_225_599.75, ("10.0.0.1", 4000), "GET", "/a", 200, 0.5, "r1")
    second = (1_767_225_600.25, ("10.0.0.1", 4001), "GET", "/b", 200, 0.5, "r2")
    again = (1_767_225_600.5, ("10.0.0.1", 4000), "GET", "/a", 200, 0.5, "r3")
    records = [json.loads(json_access_line(entry, 7, texts)) for entry in (first, second, again)]
    assert [r["time"] for r in records] == [
        "2025-12-31T23:59:59.750+00:00",
        "2026-01-01T00:00:00.250+00:00",
        "2026-01-01T00:00:00.500+00:00",
    ]
    assert [(r["path"], r["client"]) for r in records] == [
        ("/a", "10.0.0.1:4000"),
        ("/b", "10.0.0.1:4001"),
        ("/a", "10.0.0.1:4000"),
    ]


def test_remembered_texts_stay_bounded() -> None:
    texts = LineTexts()
    for n in range(TEXTS_REMEMBERED * 3):
        entry = (1_767_225_600.0, ("10.0.0.1", n), "GET", f"/items/{n}", 200, 0.5, "rid")
        record = json.loads(json_access_line(entry, 7, texts))
        assert (record["path"], record["client"]) == (f"/items/{n}", f"10.0.0.1:{n}")
    assert len(texts.paths) <= TEXTS_REMEMBERED
    assert len(texts.clients) <= TEXTS_REMEMBERED


@pytest.mark.parametrize(
    ("duration_ms", "written"), [(0.0, 0.0), (0.004, 0.0), (0.126, 0.13), (1234.5, 1234.5)]
)
def test_duration_has_two_decimals(duration_ms: float, written: float) -> None:
    entry = (1_767_225_600.0, None, "GET", "/", 200, duration_ms, "rid")
    record = json.loads(json_access_line(entry, 7, LineTexts()))
    assert record["duration_ms"] == written
    assert record["client"] == "-"
    assert record["message"] == access_message("-", "GET", "/", 200, duration_ms)


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
    stop_line_writer()
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
