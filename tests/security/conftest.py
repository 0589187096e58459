"""Fixtures for the attack tests: apps with extra probe routes, and a real Redis for counters."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from app.core.config import Settings
from app.core.ratelimit import check_login
from app.main import create_app

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")

AppFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, AsyncClient]]]


class Echo(BaseModel):
    text: str


def add_probe_routes(app: FastAPI, prefix: str) -> None:
    """Routes that exist only in these tests: one reads a body, one fails, one logs in."""

    @app.post(f"{prefix}/probe/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @app.post(f"{prefix}/probe/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get(f"{prefix}/probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail /srv/app/db.py line 42")

    @app.post(f"{prefix}/probe/login")
    async def login(request: Request, account: str) -> dict[str, bool]:
        await check_login(request, account)
        return {"ok": True}


def client_for(app: FastAPI, address: str) -> AsyncClient:
    """Another client of a running app, calling from `address`."""
    transport = ASGITransport(app=app, client=(address, 50000))
    return AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def service_code() -> str:
    """A service code unique to the test: it prefixes the test's Redis keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def app_factory(make_settings: Callable[..., Settings]) -> AppFactory:
    """`async with app_factory(**settings) as (app, client)`: an app with probe routes, running."""

    @asynccontextmanager
    async def build(
        client_address: str = "127.0.0.1", **overrides: Any
    ) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
        settings = make_settings(**overrides)
        app = create_app(settings, configure_logging=False)
        add_probe_routes(app, settings.api_prefix)
        async with LifespanManager(app):
            transport = ASGITransport(app=app, client=(client_address, 50000))
            async with AsyncClient(transport=transport, base_url="http://testserver") as client:
                try:
                    yield app, client
                finally:
                    limiter = app.state.rate_limiter
                    if limiter is not None and overrides.get("REDIS_URL"):
                        await limiter.storage.reset()

    return build
