"""Rate limits: the default per client on the API, the strict login limit per address and per
account, 429 with Retry-After in the envelope, counters in memory (Redis: its own file)."""

from __future__ import annotations

from tests.assertions import assert_problem
from tests.security.conftest import AppFactory, client_for


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


async def test_memory_counters_are_per_instance(app_factory: AppFactory) -> None:
    """Why production wants REDIS_URL: without it each worker counts on its own."""
    settings = {"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_DEFAULT": "1/minute"}
    async with app_factory(**settings) as (_, one), app_factory(**settings) as (_, two):
        assert (await one.get("/api/v1/version")).status_code == 200
        assert (await two.get("/api/v1/version")).status_code == 200
        assert (await one.get("/api/v1/version")).status_code == 429
