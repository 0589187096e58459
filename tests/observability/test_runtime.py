"""Pool and runtime series in one process: the pool's state, each checkout's wait, the loop's
lag and the memory, as a scrape shows them; a pool that is recreated keeps its timing."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from app.core import runtime
from app.core.db import TimedPool

SAMPLE_SECONDS = 0.2


async def _scrape(client: AsyncClient) -> dict[str, float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if not sample.labels or (set(sample.labels) == {"le"} and sample.labels["le"] == "+Inf")
    }


@pytest.fixture
def quick_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "SAMPLE_SECONDS", SAMPLE_SECONDS)


async def test_a_scrape_shows_the_pool_the_loop_and_the_memory(
    quick_sampling: None, application: FastAPI, client: AsyncClient
) -> None:
    pool = application.state.engine.sync_engine.pool
    assert isinstance(pool, TimedPool)
    async with application.state.engine.connect() as held:  # one connection checked out
        await held.execute(text("SELECT 1"))
        await asyncio.sleep(SAMPLE_SECONDS * 1.5)  # one sample while it is held
        during = await _scrape(client)
    assert during["db_pool_connections_in_use"] == 1
    assert during["db_pool_max_connections"] == 20
    assert during["db_pool_overflow"] == 0
    assert during["db_pool_wait_seconds_count"] >= 1
    assert 0 <= during["event_loop_lag_seconds"] < SAMPLE_SECONDS
    assert 10e6 < during["worker_resident_memory_bytes"] < 4e9
    await asyncio.sleep(SAMPLE_SECONDS * 1.5)
    after = await _scrape(client)
    assert after["db_pool_connections_in_use"] == 0
    assert after["db_pool_connections_idle"] >= 1


async def test_a_recreated_pool_keeps_timing_checkouts(application: FastAPI) -> None:
    engine = application.state.engine
    waits: list[float] = []
    engine.sync_engine.pool.waited = waits.append
    await engine.dispose()  # the pool is replaced by a new one of its kind
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    assert isinstance(engine.sync_engine.pool, TimedPool)
    assert len(waits) == 1
    assert 0 <= waits[0] < 5
