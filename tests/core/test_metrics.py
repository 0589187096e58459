"""Metrics: labelled by route template (never the raw path), every answer counted once,
`/metrics` guarded by its token and absent when switched off."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.core.metrics import UNMATCHED_ROUTE, Metrics
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


async def test_api_routes_are_labelled_by_their_full_template(http: AsyncClient) -> None:
    """The template a reader of the API knows: prefix included, no path converter."""
    for item_id in (7, 8):
        await http.get(f"/api/v1/items/{item_id}")
    await http.get("/api/v1/version")
    text = await scrape(http)
    assert count(text, "GET", "/api/v1/items/{item_id}", "401") == 2
    assert count(text, "GET", "/api/v1/version", "200") == 1


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
    assert dict(labels)["service"] == Settings.model_fields["SERVICE_NAME"].default


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


def test_an_answer_is_counted_at_once_in_its_latency_bucket() -> None:
    metrics = Metrics(build_info())
    method = metrics.request_started("POST")
    assert exposition(metrics.registry)[("http_requests_in_progress", (("method", "POST"),))] == 1
    metrics.answered(method, UNMATCHED_ROUTE, 201, 0.02)
    written = exposition(metrics.registry)
    key = (("method", "POST"), ("route", UNMATCHED_ROUTE), ("status", "201"))
    assert written[("http_requests_total", key)] == 1
    assert (
        written[("http_request_duration_seconds_bucket", tuple(sorted((*key, ("le", "0.01")))))]
        == 0
    )
    assert (
        written[("http_request_duration_seconds_bucket", tuple(sorted((*key, ("le", "0.025")))))]
        == 1
    )
    assert written[("http_requests_in_progress", (("method", "POST"),))] == 0
