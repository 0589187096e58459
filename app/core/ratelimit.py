"""Rate limits with the `limits` library's async API: counters in memory, or in Redis when
`REDIS_URL` is set so every worker and replica shares them.

A default limit per client address guards the whole API (`RateLimitMiddleware`); the login
route adds a strict limit per address and per account (`check_login`). The storage is made in
the lifespan (`create_rate_limiter`), on the serving loop, never at import; `limits` itself is
imported only then, so a service with rate limiting off does not carry it (1.6 MiB a process).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

from fastapi import Request
from loguru import logger
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import AppError, ServiceUnavailableError
from app.core.middleware import send_problem

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.storage import Storage

REDIS_TIMEOUT_SECONDS = 1.0
_FORWARDED_FOR = b"x-forwarded-for"

Network = IPv4Network | IPv6Network


class RateLimitedError(AppError):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"rate limit reached; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class RateLimitUnavailableError(ServiceUnavailableError):
    code = "rate_limit_unavailable"
    title = "Login temporarily unavailable"


class RateLimitStorageError(Exception):
    """The counters' storage could not be reached (the `limits` error, wrapped)."""


def _storage(settings: Settings) -> Storage:
    from limits.aio.storage import MemoryStorage, RedisStorage

    if not settings.REDIS_URL:
        return MemoryStorage()
    url = settings.REDIS_URL
    if not url.startswith("async+"):
        url = "async+" + url
    return RedisStorage(
        url,
        wrap_exceptions=True,
        key_prefix=f"{settings.SERVICE_CODE}:ratelimit",
        connect_timeout=REDIS_TIMEOUT_SECONDS,
        stream_timeout=REDIS_TIMEOUT_SECONDS,
    )


def _networks(entries: list[str]) -> tuple[Network, ...]:
    return tuple(ip_network(entry, strict=False) for entry in entries)


def _is_in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one hit: allowed, or refused with the seconds until a retry may pass."""

    allowed: bool
    retry_after: int = 0


class RateLimiter:
    """The app's limits, their shared storage, and who the client is."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        from limits import parse  # here, not at import: see the module docstring
        from limits.aio.storage import MemoryStorage
        from limits.aio.strategies import (
            FixedWindowRateLimiter,
            MovingWindowRateLimiter,
        )
        from limits.errors import StorageError

        self.enabled = settings.RATE_LIMIT_ENABLED
        self.storage = storage or _storage(settings)
        self._in_memory = isinstance(self.storage, MemoryStorage)
        self._storage_error = StorageError
        # The default limit runs on every API request: a fixed window is the cheapest (one
        # increment; at worst twice the limit across a window edge). Logins are rare and
        # the limit must be exact: a moving window.
        self.cheap = FixedWindowRateLimiter(self.storage)
        self.exact = MovingWindowRateLimiter(self.storage)
        self.default = parse(settings.RATE_LIMIT_DEFAULT)
        self.login = parse(settings.RATE_LIMIT_LOGIN)
        self.api_prefix = settings.api_prefix + "/"
        self.trusted_proxies = _networks(settings.TRUSTED_PROXIES)

    def client_address(self, scope: Scope) -> str:
        """The peer address; behind a trusted proxy, the nearest untrusted `X-Forwarded-For` hop.

        Walking the list from the right and stopping at the first address no trusted proxy
        vouches for means a client cannot pick its own identity by sending the header itself.
        """
        client = scope.get("client")
        peer: str = client[0] if client else "unknown"
        if not self.trusted_proxies or not _is_in(peer, self.trusted_proxies):
            return peer
        forwarded: list[str] = [
            value.decode("latin-1") for name, value in scope["headers"] if name == _FORWARDED_FOR
        ]
        hops = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _is_in(hop, self.trusted_proxies):
                return hop
        return hops[0] if hops else peer

    async def hit(self, item: RateLimitItem, *identifiers: str, exact: bool = False) -> Verdict:
        """Count one request against `item` for these identifiers (RateLimitStorageError if
        the storage is unreachable)."""
        strategy = self.exact if exact else self.cheap
        try:
            if await strategy.hit(item, *identifiers):
                return Verdict(allowed=True)
            stats = await strategy.get_window_stats(item, *identifiers)
        except self._storage_error as error:
            raise RateLimitStorageError(str(error)) from error
        return Verdict(allowed=False, retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    async def close(self) -> None:
        """Drop the in-memory counters (Redis counters expire by themselves)."""
        if self._in_memory:
            await self.storage.reset()


def create_rate_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(settings)


class RateLimitMiddleware:
    """The default limit per client address on every request under the API prefix.

    When the shared storage cannot be reached the request passes (logged): an outage of the
    counters must not take the whole API down with it. Health probes, docs and metrics are not
    counted.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = getattr(
            getattr(scope.get("app"), "state", None), "rate_limiter", None
        )
        if (
            scope["type"] != "http"
            or limiter is None
            or not limiter.enabled
            or not scope["path"].startswith(limiter.api_prefix)
        ):
            await self.app(scope, receive, send)
            return
        try:
            verdict = await limiter.hit(limiter.default, "api", limiter.client_address(scope))
        except RateLimitStorageError as error:
            logger.warning("rate-limit storage unavailable, request let through: {}", error)
            verdict = Verdict(allowed=True)
        if verdict.allowed:
            await self.app(scope, receive, send)
            return
        refusal = RateLimitedError(verdict.retry_after)
        await send_problem(
            scope,
            send,
            status=refusal.status_code,
            code=refusal.code,
            title=refusal.title,
            detail=refusal.detail,
            headers=refusal.headers,
        )


def _account_key(account: str) -> str:
    """A short fixed-size key: no e-mail addresses in the counter store, no giant keys."""
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


async def check_login(request: Request, account: str) -> None:
    """Count a login attempt per client address and per account; 429 when either is spent.

    Both limits are hit on every attempt, so guessing many passwords for one account from many
    addresses, or many accounts from one address, both stop. When the counters cannot be reached
    logins are refused (503): unlimited password guessing is worse than a short outage.
    """
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or not limiter.enabled:
        return
    address = limiter.client_address(request.scope)
    try:
        verdicts = (
            await limiter.hit(limiter.login, "login-address", address, exact=True),
            await limiter.hit(limiter.login, "login-account", _account_key(account), exact=True),
        )
    except RateLimitStorageError as error:
        logger.error("rate-limit storage unavailable, login refused: {}", error)
        raise RateLimitUnavailableError(headers={"Retry-After": "5"}) from None
    refused = [verdict.retry_after for verdict in verdicts if not verdict.allowed]
    if refused:
        raise RateLimitedError(max(refused))
