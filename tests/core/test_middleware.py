"""Request ids are accepted or made, echoed, and carried by the access-log line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from loguru import logger


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, object]]]:
    lines: list[dict[str, object]] = []
    sink = logger.add(
        lambda message: lines.append(
            {**message.record["extra"], "message": message.record["message"]}
        ),
        level="INFO",
    )
    yield lines
    logger.remove(sink)


async def test_inbound_request_id_is_echoed_and_logged(
    client: AsyncClient, log_lines: list[dict[str, object]]
) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc"})
    assert response.headers["x-request-id"] == "abc"
    access = [line for line in log_lines if line.get("kind") == "access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "abc"
    assert access[0]["status"] == 200
    assert access[0]["path"] == "/health/live"
    assert access[0]["method"] == "GET"
    assert isinstance(access[0]["duration_ms"], float)


async def test_request_id_is_made_when_absent(client: AsyncClient) -> None:
    first = (await client.get("/health/live")).headers["x-request-id"]
    second = (await client.get("/health/live")).headers["x-request-id"]
    assert len(first) == 32
    assert first != second


@pytest.mark.parametrize("bad", ["x" * 200, "has space", "semi;colon", 'quote"d'])
async def test_insane_request_id_is_replaced(client: AsyncClient, bad: str) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": bad})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


async def test_timing_header_is_present(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    name, _, value = response.headers["server-timing"].partition(";dur=")
    assert name == "app"
    assert float(value) >= 0


async def test_error_responses_carry_request_id(client: AsyncClient) -> None:
    response = await client.get("/nowhere", headers={"X-Request-ID": "req-404"})
    assert response.headers["x-request-id"] == "req-404"
    assert json.loads(response.text)["request_id"] == "req-404"
