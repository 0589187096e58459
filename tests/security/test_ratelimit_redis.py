"""Rate-limit counters in a real Redis: shared by two app instances, and an outage that lets
the API through but refuses logins. The `redis` part's tests (copier.yml)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from httpx import AsyncClient

from tests.assertions import assert_problem
from tests.factories import create_user
from tests.security.conftest import REDIS_TEST_URL, AppFactory
from tests.servers import closed_port

TOKEN = "/api/v1/auth/token"


@asynccontextmanager
async def two_instances(
    app_factory: AppFactory, service_code: str, **limits: str
) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    """Two apps, as two replicas would run, counting in the same Redis."""
    settings = {
        "RATE_LIMIT_ENABLED": True,
        "REDIS_URL": REDIS_TEST_URL,
        "SERVICE_CODE": service_code,
        **limits,
    }
    async with app_factory(**settings) as (_, one), app_factory(**settings) as (_, two):
        yield one, two


@pytest.mark.redis
async def test_two_app_instances_share_the_default_limit_in_redis(
    app_factory: AppFactory, service_code: str
) -> None:
    async with two_instances(app_factory, service_code, RATE_LIMIT_DEFAULT="4/minute") as pair:
        one, two = pair
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
    async with two_instances(app_factory, service_code, RATE_LIMIT_LOGIN="2/minute") as (one, two):
        logins = [
            (await c.post("/api/v1/probe/login?account=a@example.com")).status_code
            for c in (one, two, one, two)
        ]
    assert logins == [200, 200, 429, 429]


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


@pytest.mark.redis
async def test_api2_login_limit_holds_across_two_instances_sharing_redis(
    app_factory: AppFactory, service_code: str
) -> None:
    settings = {
        "RATE_LIMIT_ENABLED": True,
        "RATE_LIMIT_LOGIN": "4/minute",
        "REDIS_URL": REDIS_TEST_URL,
        "SERVICE_CODE": service_code,
    }
    async with app_factory(**settings) as (app, one), app_factory(**settings) as (_, two):
        _, email = await create_user(app)
        statuses = [
            (await c.post(TOKEN, data={"username": email, "password": "bad"})).status_code
            for c in (one, two, one, two, one, two)
        ]
    assert statuses == [401, 401, 401, 401, 429, 429]
