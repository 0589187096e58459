"""Metrics: labelled by route template (never the raw path), every answer counted once,
`/metrics` guarded by its token and absent when switched off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from app.core.metrics import LATENCY_BUCKETS, UNMATCHED_ROUTE, WRITE_EVERY_SECONDS, Metrics
from app.core.version import BuildInfo
from app.main import create_app
from tests.assertions import assert_problem
from tests.conftest import SettingsFactory

TOKEN = "metrics-token-for-tests"


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def count(text: str, method: str, route: str, status: str) -> float:
    key = tuple(sorted({"method": method, "route": route, "status": status}.items()))
    return samples(text, "http_requests_total").get(key, 0.0)


def build(settings_factory: SettingsFactory, **overrides: object) -> FastAPI:
    application = create_app(settings_factory(**overrides), configure_logging=False)

    @application.get("/things/{thing_id}")
    async def read_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    return application


@pytest.fixture
async def http(make_settings: SettingsFactory) -> AsyncIterator[AsyncClient]:
    application = build(make_settings, METRICS_TOKEN=TOKEN)
    async with LifespanManager(application):
        transport = ASGITransport(app=application, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def scrape(http: AsyncClient) -> str:
    response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_labelled_by_route_template_not_raw_path(http: AsyncClient) -> None:
    for thing_id in (1, 2, 3):
        assert (await http.get(f"/things/{thing_id}")).status_code == 200
    text = await scrape(http)
    assert count(text, "GET", "/things/{thing_id}", "200") == 3
    assert "/things/1" not in text
    histogram = samples(text, "http_request_duration_seconds_count")
    key = tuple(sorted({"method": "GET", "route": "/things/{thing_id}", "status": "200"}.items()))
    assert histogram[key] == 3


async def test_unknown_paths_share_one_label(http: AsyncClient) -> None:
    await http.get("/nope/1")
    await http.get("/nope/2")
    text = await scrape(http)
    assert count(text, "GET", UNMATCHED_ROUTE, "404") == 2
    assert "/nope" not in text


async def test_wrong_method_keeps_the_route_template(http: AsyncClient) -> None:
    assert (await http.post("/things/7")).status_code == 405
    assert count(await scrape(http), "POST", "/things/{thing_id}", "405") == 1


async def test_unexpected_error_is_counted_as_500(http: AsyncClient) -> None:
    assert (await http.get("/boom")).status_code == 500
    assert count(await scrape(http), "GET", "/boom", "500") == 1


async def test_unusual_methods_share_one_label(http: AsyncClient) -> None:
    await http.request("PROPFIND", "/things/1")
    text = await scrape(http)
    assert count(text, "OTHER", "/things/{thing_id}", "405") == 1


async def test_in_progress_returns_to_zero_and_build_info_is_published(http: AsyncClient) -> None:
    await http.get("/health/live")
    text = await scrape(http)
    in_progress = samples(text, "http_requests_in_progress")
    # The scrape itself is the only request in progress while the text is made.
    assert in_progress[(("method", "GET"),)] == 1
    build_info = samples(text, "service_build_info")
    assert list(build_info.values()) == [1.0]
    (labels,) = build_info
    assert dict(labels)["service"] == "FastAPI Service Template"


async def test_each_scrape_counts_the_scrapes_before_it(http: AsyncClient) -> None:
    await scrape(http)
    text = await scrape(http)
    assert count(text, "GET", "/metrics", "200") == 1


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"]
)
async def test_metrics_need_the_token_when_one_is_set(
    http: AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await http.get("/metrics", headers=headers)
    assert_problem(response, 401, "not_authenticated")
    assert "http_requests_total" not in response.text


async def test_metrics_are_open_without_a_token(make_settings: SettingsFactory) -> None:
    application = build(make_settings)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/metrics")
    assert response.status_code == 200
    assert "service_build_info" in response.text


async def test_metrics_can_be_switched_off(make_settings: SettingsFactory) -> None:
    application = build(make_settings, METRICS_ENABLED=False)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/things/1")).status_code == 200
            response = await client.get("/metrics")
    assert_problem(response, 404, "not_found")
    assert not hasattr(application.state, "metrics")


# --- Batched writes: tallied per request, written once per WRITE_EVERY_SECONDS -----------


def build_info() -> BuildInfo:
    return BuildInfo(
        service="svc",
        version="v1.2601.01-dev-abc1234",
        git_branch="main",
        git_revision="abc1234" * 5,
        git_short_revision="abc1234",
        build_date="2026-01-01T00:00:00+00:00",
    )


def exposition(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


# On every bucket bound, between bounds, below the first and beyond the last (+Inf).
DURATIONS = [0.0, 0.001, *LATENCY_BUCKETS, 0.007, 0.3, 0.3, 31.0, 120.0]


def test_batched_histogram_and_counter_equal_one_observation_at_a_time() -> None:
    batched = Metrics(build_info())
    for seconds in DURATIONS:
        batched.answered(batched.request_started("GET"), UNMATCHED_ROUTE, 200, seconds)
    batched.flush()
    for seconds in DURATIONS[:3]:  # a second batch adds to the first
        batched.answered(batched.request_started("GET"), UNMATCHED_ROUTE, 200, seconds)
    batched.flush()

    reference = CollectorRegistry()
    labels = ("method", "route", "status")
    counter = Counter("http_requests", "", labels, registry=reference)
    histogram = Histogram(
        "http_request_duration_seconds", "", labels, buckets=LATENCY_BUCKETS, registry=reference
    )
    Gauge("http_requests_in_progress", "", ("method",), registry=reference).labels("GET").set(0)
    for seconds in [*DURATIONS, *DURATIONS[:3]]:
        counter.labels("GET", UNMATCHED_ROUTE, "200").inc()
        histogram.labels("GET", UNMATCHED_ROUTE, "200").observe(seconds)

    got = exposition(batched.registry)
    expected = exposition(reference)
    assert {k: v for k, v in got.items() if not k[0].startswith("service_build")} == pytest.approx(
        expected
    )


async def test_answers_are_written_within_the_write_interval_without_a_scrape() -> None:
    metrics = Metrics(build_info())
    method = metrics.request_started("POST")
    assert ("http_requests_in_progress", (("method", "POST"),)) not in exposition(
        metrics.registry
    )  # tallied only
    await asyncio.sleep(2 * WRITE_EVERY_SECONDS)
    assert exposition(metrics.registry)[("http_requests_in_progress", (("method", "POST"),))] == 1

    metrics.answered(method, UNMATCHED_ROUTE, 201, 0.02)
    key = (("method", "POST"), ("route", UNMATCHED_ROUTE), ("status", "201"))
    await asyncio.sleep(0)
    assert exposition(metrics.registry).get(("http_requests_total", key), 0) == 0  # tallied
    await asyncio.sleep(2 * WRITE_EVERY_SECONDS)
    written = exposition(metrics.registry)
    assert written[("http_requests_total", key)] == 1
    bucket = tuple(sorted((*key, ("le", "0.025"))))
    assert written[("http_request_duration_seconds_bucket", bucket)] == 1
    assert written[("http_requests_in_progress", (("method", "POST"),))] == 0


async def test_many_answers_in_one_interval_are_written_once() -> None:
    metrics = Metrics(build_info())
    writes = 0
    flush = metrics.flush

    def counting_flush() -> None:
        nonlocal writes
        writes += 1
        flush()

    metrics.flush = counting_flush  # type: ignore[method-assign]
    for _ in range(50):
        metrics.answered(metrics.request_started("GET"), UNMATCHED_ROUTE, 200, 0.001)
        await asyncio.sleep(0)  # other turns of the loop in between
    await asyncio.sleep(2 * WRITE_EVERY_SECONDS)
    key = (("method", "GET"), ("route", UNMATCHED_ROUTE), ("status", "200"))
    assert exposition(metrics.registry)[("http_requests_total", key)] == 50
    assert writes <= 3  # a busy machine may stretch 50 turns past one interval


def test_without_a_running_loop_answers_are_written_at_once() -> None:
    metrics = Metrics(build_info())
    metrics.answered(metrics.request_started("DELETE"), UNMATCHED_ROUTE, 204, 0.001)
    key = (("method", "DELETE"), ("route", UNMATCHED_ROUTE), ("status", "204"))
    assert exposition(metrics.registry)[("http_requests_total", key)] == 1


async def test_the_lifespan_writes_what_is_pending_on_shutdown(
    make_settings: SettingsFactory,
) -> None:
    application = build(make_settings)
    async with LifespanManager(application):
        metrics: Metrics = application.state.metrics
        metrics.answered(metrics.request_started("GET"), UNMATCHED_ROUTE, 200, 0.01)
        # Shut down before the loop turns: the count must not be lost.
    key = (("method", "GET"), ("route", UNMATCHED_ROUTE), ("status", "200"))
    assert exposition(metrics.registry)[("http_requests_total", key)] == 1
