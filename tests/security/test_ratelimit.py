"""Rate limits: the default per client on the API, the strict login limit per address and per
account, 429 with Retry-After in the envelope, and counters shared through a real Redis."""

from __future__ import annotations

import pytest

from tests.assertions import assert_problem
from tests.security.conftest import REDIS_TEST_URL, AppFactory, client_for
from tests.servers import closed_port


async def test_default_limit_answers_429_with_retry_after(app_factory: AppFactory) -> None:
    async with app_factory(RATE_LIMIT_ENABLED=True, RATE_LIMIT_DEFAULT="3/minute") as (_, client):
        statuses = [(await client.get("/api/v1/version")).status_code for _ in range(3)]
        refused = await client.get("/api/v1/version")
        health = await client.get("/health/live")
    assert statuses == [200, 200, 200]
    body = assert_problem(refused, 429, "rate_limited")
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert str(retry_after) in body["detail"]
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert health.status_code == 200  # probes are never limited


async def test_limits_are_per_client_address(app_factory: AppFactory) -> None:
    settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "2/minute"}
    async with app_factory("10.0.0.1", **settings) as (app, first):
        assert [(await first.get("/api/v1/version")).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        limiter = app.state.rate_limiter
        other = {"type": "http", "client": ("10.0.0.2", 1), "headers": []}
        assert await limiter.hit(limiter.default, "api", limiter.client_address(other)) == 0


async def test_forwarded_for_is_ignored_from_untrusted_peers(app_factory: AppFactory) -> None:
    settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "2/minute"}
    async with app_factory("203.0.113.9", **settings) as (_, client):
        statuses = [
            (
                await client.get("/api/v1/version", headers={"X-Forwarded-For": f"198.51.100.{i}"})
            ).status_code
            for i in range(3)
        ]
    assert statuses == [200, 200, 429]


async def test_login_limit_per_address(app_factory: AppFactory) -> None:
    settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_LOGIN": "3/minute"}
    async with app_factory(**settings) as (_, client):
        statuses = [
            (await client.post(f"/api/v1/probe/login?account=user{i}@example.com")).status_code
            for i in range(4)
        ]
        refused = await client.post("/api/v1/probe/login?account=new@example.com")
    assert statuses == [200, 200, 200, 429]
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1


async def test_login_limit_per_account_across_addresses(app_factory: AppFactory) -> None:
    settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_LOGIN": "2/minute"}
    statuses = []
    async with app_factory(**settings) as (app, _):
        for address in ("10.9.0.1", "10.9.0.2", "10.9.0.3"):
            async with client_for(app, address) as client:
                # Case and spaces do not make a new account.
                response = await client.post("/api/v1/probe/login?account=Victim@Example.com ")
                statuses.append(response.status_code)
    assert statuses == [200, 200, 429]


def _shared(service_code: str, **limits: str) -> dict[str, object]:
    return {
        "RATE_LIMIT_ENABLED": True,
        "REDIS_URL": REDIS_TEST_URL,
        "SERVICE_CODE": service_code,
        **limits,
    }


@pytest.mark.redis
async def test_two_app_instances_share_the_default_limit_in_redis(
    app_factory: AppFactory, service_code: str
) -> None:
    settings = _shared(service_code, RATE_LIMIT_DEFAULT="4/minute")
    async with app_factory(**settings) as (_, one), app_factory(**settings) as (_, two):
        statuses = [(await c.get("/api/v1/version")).status_code for c in (one, two, one, two)]
        refused_one = await one.get("/api/v1/version")
        refused_two = await two.get("/api/v1/version")
    assert statuses == [200, 200, 200, 200]
    assert_problem(refused_one, 429, "rate_limited")
    assert_problem(refused_two, 429, "rate_limited")
    assert int(refused_two.headers["retry-after"]) >= 1


@pytest.mark.redis
async def test_two_app_instances_share_the_login_limit_in_redis(
    app_factory: AppFactory, service_code: str
) -> None:
    settings = _shared(service_code, RATE_LIMIT_LOGIN="2/minute")
    async with app_factory(**settings) as (_, one), app_factory(**settings) as (_, two):
        logins = [
            (await c.post("/api/v1/probe/login?account=a@example.com")).status_code
            for c in (one, two, one, two)
        ]
    assert logins == [200, 200, 429, 429]


async def test_memory_counters_are_per_instance(app_factory: AppFactory) -> None:
    """Why production wants REDIS_URL: without it each worker counts on its own."""
    settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "1/minute"}
    async with app_factory(**settings) as (_, one), app_factory(**settings) as (_, two):
        assert (await one.get("/api/v1/version")).status_code == 200
        assert (await two.get("/api/v1/version")).status_code == 200
        assert (await one.get("/api/v1/version")).status_code == 429


async def test_counter_outage_lets_the_api_through_but_not_logins(
    app_factory: AppFactory, service_code: str
) -> None:
    with closed_port() as port:  # a Redis that isn't there
        settings = {
            "RATE_LIMIT_ENABLED": True,
            "REDIS_URL": f"redis://127.0.0.1:{port}/15",
            "SERVICE_CODE": service_code,
        }
        async with app_factory(**settings) as (app, client):
            api = await client.get("/api/v1/version")
            login = await client.post("/api/v1/probe/login?account=a@example.com")
            app.state.rate_limiter = None  # nothing to reset in a Redis that isn't there
    assert api.status_code == 200
    assert_problem(login, 503, "rate_limit_unavailable")
    assert login.headers["retry-after"] == "5"


async def test_disabled_limits_count_nothing(app_factory: AppFactory) -> None:
    async with app_factory(RATE_LIMIT_DEFAULT="1/minute", RATE_LIMIT_LOGIN="1/minute") as (
        app,
        client,
    ):
        statuses = [(await client.get("/api/v1/version")).status_code for _ in range(3)]
        logins = [
            (await client.post("/api/v1/probe/login?account=a@example.com")).status_code
            for _ in range(3)
        ]
    assert app.state.rate_limiter is None
    assert statuses == [200, 200, 200]
    assert logins == [200, 200, 200]
