"""The application factory: core mechanisms plus every domain's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from loguru import logger
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core import docs, errortracking, health, metrics, runtime, telemetry, version
from app.core.cache import Cache
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_session_factory
from app.core.errors import (
    PROBLEM_RESPONSES,
    document_problem_media_type,
    register_error_handlers,
)
from app.core.jobs import idempotency, registry
from app.core.logging import setup_logging
from app.core.middleware import (
    LoadSheddingMiddleware,
    ProblemCORSMiddleware,
    RequestContextMiddleware,
    RequestLimitsMiddleware,
    SecurityHeaders,
    TrustedHostMiddleware,
)
from app.core.ratelimit import RateLimiter, RateLimitMiddleware
from app.items.router import router as items_router
from app.jobs.router import router as jobs_router
from app.users.router import router as users_router


class ServiceApp(FastAPI):
    """FastAPI with our middleware outside Starlette's error middleware, so every response,
    a last-resort 500 included, carries the request id and security headers and is logged once.

    Outermost first: the request context (request id, timing, security headers, metrics,
    access log: one layer), load shedding, trusted hosts, CORS, request size limits, the
    default rate limit; then Starlette's own stack.
    """

    def build_middleware_stack(self) -> ASGIApp:
        settings: Settings = self.state.settings
        stack: ASGIApp = idempotency.AnswerRecorder(super().build_middleware_stack())
        if settings.RATE_LIMIT_ENABLED:
            stack = RateLimitMiddleware(stack)
        stack = RequestLimitsMiddleware(
            stack,
            max_body_bytes=settings.MAX_BODY_BYTES,
            max_header_bytes=settings.MAX_HEADER_BYTES,
        )
        if settings.CORS_ORIGINS:
            stack = ProblemCORSMiddleware(
                stack,
                allow_origins=settings.CORS_ORIGINS,
                allow_credentials=True,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "If-Match", "X-Request-ID"],
                expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
                max_age=600,
            )
        if "*" not in settings.TRUSTED_HOSTS:
            stack = TrustedHostMiddleware(stack, allowed_hosts=settings.TRUSTED_HOSTS)
        stack = LoadSheddingMiddleware(stack, limit=settings.request_limit)
        return RequestContextMiddleware(
            stack,
            access_log=settings.ACCESS_LOG,
            security=SecurityHeaders(hsts_seconds=settings.HSTS_SECONDS),
            metrics=self.state.metrics if settings.METRICS_ENABLED else None,
        )

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = docs.declare_credentials(super().openapi(), self.routes)
            schema = document_problem_media_type(schema)
            self.openapi_schema = _bounds_from_settings(schema, self.state.settings)
        return self.openapi_schema


class TracedServiceApp(ServiceApp):
    """The app when tracing is on: trace context only from trusted callers (the request span
    FastAPI makes reads the headers left)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            telemetry.drop_untrusted_trace_context(scope, self.state.settings)
        await super().__call__(scope, receive, send)


def _bounds_from_settings(node: Any, settings: Settings) -> Any:
    """Fill `minLength` where a schema names the setting that decides it, so the document
    states the rule the deployed settings enforce (e.g. PASSWORD_MIN_LENGTH)."""
    if isinstance(node, dict):
        setting = node.pop("x-min-length-setting", None)
        if setting is not None:
            node["minLength"] = getattr(settings, setting)
        for value in node.values():
            _bounds_from_settings(value, settings)
    elif isinstance(node, list):
        for value in node:
            _bounds_from_settings(value, settings)
    return node


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database engine on the serving loop (per worker) and dispose it on shutdown."""
    settings: Settings = app.state.settings
    release = app.state.build_info.version
    tracing = telemetry.start_tracing(settings, release)
    tracking = errortracking.start_error_tracking(settings, release)
    engine = create_engine(settings)
    telemetry.trace_engine(engine)
    app.state.engine = engine
    app.state.session_factory = create_session_factory(engine)
    app.state.probe_engine = create_engine(settings, pooled=False)
    app.state.rate_limiter = RateLimiter(settings) if settings.RATE_LIMIT_ENABLED else None
    sampler = None
    app.state.cache = None
    if settings.CACHE_TTL_SECONDS and settings.REDIS_URL:
        app.state.cache = Cache(
            settings.REDIS_URL, prefix=settings.cache_prefix, ttl_seconds=settings.CACHE_TTL_SECONDS
        )
    if settings.METRICS_ENABLED:
        app.state.metrics.mark_started()
        sampler = runtime.start(app.state.runtime_metrics, engine)
    logger.info(
        "{} {} started (status={}, database={})",
        settings.SERVICE_NAME,
        app.state.build_info.version,
        settings.STATUS,
        engine.url.get_backend_name(),
    )
    try:
        yield
    finally:
        if sampler is not None:
            await runtime.stop(sampler)
        if app.state.rate_limiter is not None:
            await app.state.rate_limiter.close()
        if app.state.cache is not None:
            await app.state.cache.close()
        await engine.dispose()
        await app.state.probe_engine.dispose()
        logger.info("{} stopped; database pool disposed", settings.SERVICE_NAME)
        if tracking:
            errortracking.stop_error_tracking()
        if tracing:
            telemetry.stop_tracing()


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastAPI:
    """Build the app from settings (the environment's when none are given)."""
    settings = settings or get_settings()
    if configure_logging:
        setup_logging(settings)
    make_url(settings.DATABASE_URL).get_dialect().import_dbapi()  # loaded before gunicorn forks
    docs_enabled = settings.docs_enabled
    build_info = version.load_build_info(settings)
    app_class = TracedServiceApp if settings.tracing_enabled else ServiceApp
    app = app_class(
        title=settings.SERVICE_NAME,
        version=build_info.version,
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs_enabled else None,
        docs_url=None,  # served by app.core.docs with local assets instead of a CDN
        redoc_url=None,
        responses=PROBLEM_RESPONSES,
        telemetry=telemetry.fastapi_config(settings),
    )
    app.state.settings = settings
    app.state.build_info = build_info
    register_error_handlers(app)
    idempotency.install(app)
    registry.discover("app")  # every domain's tasks, so enqueue knows their names
    if docs_enabled:
        docs.install(app)

    # A request is matched against each route in turn, in this order: the domains serving most
    # requests first; accounts (about 30 routes, sign-in and administration) and jobs last.
    app.include_router(health.router)
    app.include_router(version.router, prefix=settings.api_prefix)
    app.include_router(items_router, prefix=settings.api_prefix)
    # new-domain: routers above this line
    app.include_router(jobs_router, prefix=settings.api_prefix)
    app.include_router(users_router, prefix=settings.api_prefix)
    if settings.METRICS_ENABLED:
        app.state.metrics = metrics.Metrics(build_info, settings.api_prefix)
        app.state.runtime_metrics = runtime.RuntimeMetrics(app.state.metrics.registry)
        app.include_router(metrics.router)
    return app


app = create_app()
