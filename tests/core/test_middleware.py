"""Request ids are accepted or made, echoed, and carried by the access-log line; a worker
sheds requests past its limit at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from loguru import logger

from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory


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


async def test_requests_past_the_worker_limit_are_shed_at_once(
    make_settings: SettingsFactory,
) -> None:
    """With the limit reached, the next request gets 503 and Retry-After without waiting;
    probes still answer; the limit frees again when requests finish."""
    application = create_app(make_settings(MAX_REQUESTS_IN_PROGRESS=2), configure_logging=False)
    release = asyncio.Event()
    both_in = asyncio.Event()
    entered = 0

    @application.get("/wait")
    async def wait() -> dict[str, bool]:
        nonlocal entered
        entered += 1
        if entered == 2:
            both_in.set()
        await release.wait()
        return {"done": True}

    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            held = [asyncio.create_task(http.get("/wait")) for _ in range(2)]
            await asyncio.wait_for(both_in.wait(), 10)
            shed = await http.get("/wait")
            probe = await http.get("/health/live")
            release.set()
            finished = await asyncio.gather(*held)
            after = await http.get("/wait")
    assert_problem(shed, 503, "overloaded")
    assert shed.headers["retry-after"] == "1"
    assert probe.status_code == 200
    assert [r.status_code for r in finished] == [200, 200]
    assert after.status_code == 200


def test_the_default_limit_is_twice_the_pool(make_settings: SettingsFactory) -> None:
    settings = make_settings(DB_POOL_SIZE=5, DB_MAX_OVERFLOW=2)
    assert settings.request_limit == 14
    assert make_settings(MAX_REQUESTS_IN_PROGRESS=3).request_limit == 3
