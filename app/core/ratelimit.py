"""Rate limits (the `limits` library, async): a default limit per client address on the API
(`RateLimitMiddleware`), a strict one per address and account on login (`check_login`);
counters in memory, or in Redis (`REDIS_URL`, app/core/ratelimit_redis.py) so every worker and
replica shares them."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import time
from collections.abc import Callable

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError
from loguru import logger
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import AppError, ServiceUnavailableError
from app.core.middleware import send_problem

# An optional part: a service generated without it has no such module (docs/template.md).
REDIS_PART = "app.core.ratelimit_redis"


class RateLimitedError(AppError):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        detail = f"rate limit reached; retry in {retry_after} s"
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class RateLimitUnavailableError(ServiceUnavailableError):
    code = "rate_limit_unavailable"
    title = "Login temporarily unavailable"


def _storage(settings: Settings) -> Storage:
    if not settings.REDIS_URL:
        return MemoryStorage()
    if importlib.util.find_spec(REDIS_PART) is None:
        raise RuntimeError(
            "REDIS_URL is set, but this service was generated without Redis-backed rate limits"
            " (the `redis` part): unset REDIS_URL, or add the part with `copier update`"
        )
    shared: Callable[[Settings], Storage] = importlib.import_module(REDIS_PART).redis_storage
    return shared(settings)


class RateLimiter:
    """The app's limits, their shared storage, and who the client is."""

    def __init__(self, settings: Settings) -> None:
        self.storage = _storage(settings)
        # A fixed window, one increment, for every API request; a moving window, exact, for logins.
        self.cheap = FixedWindowRateLimiter(self.storage)
        self.exact = MovingWindowRateLimiter(self.storage)
        self.default = parse(settings.RATE_LIMIT_DEFAULT)
        self.login = parse(settings.RATE_LIMIT_LOGIN)
        self.api_prefix = settings.api_prefix + "/"

    @staticmethod
    def client_address(scope: Scope) -> str:
        """The peer address, which the server takes from `X-Forwarded-For` only when the peer
        is a proxy in `FORWARDED_ALLOW_IPS` (none by default): a client cannot pick it."""
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    async def hit(self, item: RateLimitItem, *identifiers: str, exact: bool = False) -> int:
        """Count one request: 0 if allowed, else seconds until a retry (StorageError if down)."""
        strategy = self.exact if exact else self.cheap
        if await strategy.hit(item, *identifiers):
            return 0
        stats = await strategy.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def close(self) -> None:
        """Drop the in-memory counters (Redis counters expire by themselves)."""
        if isinstance(self.storage, MemoryStorage):
            await self.storage.reset()


class RateLimitMiddleware:
    """The default limit per client address under the API prefix. An unreachable storage
    lets requests through (logged): the counters' outage must not take the API down."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = None
        if scope["type"] == "http":
            limiter = getattr(scope["app"].state, "rate_limiter", None)
        if limiter is not None and scope["path"].startswith(limiter.api_prefix):
            try:
                wait = await limiter.hit(limiter.default, "api", limiter.client_address(scope))
            except StorageError as error:
                logger.warning("rate-limit storage unavailable, request let through: {}", error)
                wait = 0
            if wait:
                await send_problem(scope, send, RateLimitedError(wait))
                return
        await self.app(scope, receive, send)


async def check_login(request: Request, account: str) -> None:
    """A login attempt, counted per client address and per account; 429 when either is
    spent. Unreachable counters refuse logins (503): unlimited guessing is worse."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    # A short fixed-size key: no e-mail addresses in the counter store, no giant keys.
    account_key = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
    address = limiter.client_address(request.scope)
    try:
        waits = (
            await limiter.hit(limiter.login, "login-address", address, exact=True),
            await limiter.hit(limiter.login, "login-account", account_key, exact=True),
        )
    except StorageError as error:
        logger.error("rate-limit storage unavailable, login refused: {}", error)
        raise RateLimitUnavailableError(headers={"Retry-After": "5"}) from None
    if max(waits):
        raise RateLimitedError(max(waits))


async def check_secret_failures(request: Request, kind: str) -> None:
    """429 when this client address has spent its failures at presenting a `kind` of secret
    (a refresh token, an API key, the service token): `RATE_LIMIT_LOGIN` wrong ones a window.
    Only failures count, so a client using a valid secret is never slowed down."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    address = limiter.client_address(request.scope)
    try:
        allowed = await limiter.exact.test(limiter.login, f"{kind}-failures", address)
        if not allowed:
            stats = await limiter.exact.get_window_stats(limiter.login, f"{kind}-failures", address)
    except StorageError as error:
        logger.warning("rate-limit storage unavailable, {} let through: {}", kind, error)
        return
    if not allowed:
        raise RateLimitedError(max(1, math.ceil(stats.reset_time - time.time())))


async def count_secret_failure(request: Request, kind: str) -> None:
    """Count a wrong `kind` of secret against the client address."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    try:
        await limiter.exact.hit(
            limiter.login, f"{kind}-failures", limiter.client_address(request.scope)
        )
    except StorageError as error:
        logger.warning("rate-limit storage unavailable, {} failure not counted: {}", kind, error)
