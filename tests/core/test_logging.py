"""Loguru is the only sink: std logging lands in it with the request id; JSON lines parse."""

from __future__ import annotations

import gzip
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from loguru import logger

from app.core.logging import request_id_var, reset_logging, setup_logging
from app.main import create_app
from tests.conftest import SettingsFactory


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    reset_logging()
    logger.add(lambda message: sys.stderr.write(message), level="WARNING")  # noqa: PLW0108
    logging.basicConfig(handlers=[], level=logging.WARNING, force=True)


@pytest.mark.usefixtures("restore_logging")
def test_std_logging_lands_in_loguru_with_request_id(make_settings: SettingsFactory) -> None:
    stream = io.StringIO()
    setup_logging(make_settings(JSON_LOG=True), stream=stream)
    token = request_id_var.set("req-std-1")
    try:
        logging.getLogger("uvicorn.error").warning("from uvicorn")
        logging.getLogger("some.library").error("from a library")
    finally:
        request_id_var.reset(token)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_message = {r["message"]: r for r in records}
    assert by_message["from uvicorn"]["request_id"] == "req-std-1"
    assert by_message["from uvicorn"]["logger"] == "uvicorn.error"
    assert by_message["from uvicorn"]["level"] == "WARNING"
    assert by_message["from a library"]["level"] == "ERROR"


@pytest.mark.usefixtures("restore_logging")
def test_uvicorn_access_log_is_silenced(make_settings: SettingsFactory) -> None:
    stream = io.StringIO()
    setup_logging(make_settings(), stream=stream)
    logging.getLogger("uvicorn.access").info("GET / 200")
    assert "GET / 200" not in stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_human_format_carries_request_id(make_settings: SettingsFactory) -> None:
    stream = io.StringIO()
    setup_logging(
        make_settings(LOGURU_FORMAT="{level} [{extra[request_id]}] {message}"), stream=stream
    )
    with logger.contextualize(request_id="req-h"):
        logger.info("hello")
    assert stream.getvalue().strip() == "INFO [req-h] hello"


@pytest.mark.usefixtures("restore_logging")
def test_json_exception_is_one_parseable_line(make_settings: SettingsFactory) -> None:
    stream = io.StringIO()
    setup_logging(make_settings(JSON_LOG=True), stream=stream)
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert "ValueError: bad" in record["exception"]


@pytest.mark.usefixtures("restore_logging")
async def test_request_lines_are_json_with_request_id(make_settings: SettingsFactory) -> None:
    stream = io.StringIO()
    settings = make_settings(JSON_LOG=True)
    setup_logging(settings, stream=stream)
    application = create_app(settings, configure_logging=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            await http.get("/health/live", headers={"X-Request-ID": "json-1"})
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [r for r in records if r.get("kind") == "access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "json-1"
    assert access[0]["status"] == 200


@pytest.mark.usefixtures("restore_logging")
def test_saved_logs_go_under_dated_folders(make_settings: SettingsFactory, tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    settings = make_settings(SAVE=True, JSON_LOG=True, LOG_SAVE_PATH=folder)
    setup_logging(settings, stream=io.StringIO())
    logger.info("to the file")
    logger.remove()
    now = datetime.now().astimezone()
    files = list((folder / f"{now:%Y}" / f"{now:%m}").glob("*.log"))
    assert len(files) == 1, list(folder.rglob("*"))
    assert files[0].name == f"{settings.SERVICE_CODE}_{now:%Y-%m-%d}.log"
    records = [json.loads(line) for line in files[0].read_text().splitlines()]
    assert any(r["message"] == "to the file" for r in records)


@pytest.mark.usefixtures("restore_logging")
def test_saved_lines_arrive_whole_and_in_order_through_rotation(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """One process writes its own file: no line is split, reordered or lost."""
    folder = tmp_path / "saved"
    settings = make_settings(
        SAVE=True, JSON_LOG=True, LOG_SAVE_PATH=folder, ROTATION="64 KB", COMPRESSION="gz"
    )
    setup_logging(settings, stream=io.StringIO())
    for number in range(3000):
        logger.bind(n=number).info("line {}", number)
    logger.remove()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    rotated = sorted(p for p in files if p.suffix == ".gz")
    current = [p for p in files if p.suffix == ".log"]
    assert len(rotated) >= 3  # it did rotate, more than once
    assert len(current) == 1
    text = b"".join(gzip.decompress(p.read_bytes()) for p in rotated) + current[0].read_bytes()
    numbers = [json.loads(line)["n"] for line in text.decode().splitlines()]
    assert numbers == list(range(3000))
