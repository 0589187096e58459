"""Cache-aside in Redis for rows many requests read: a hit costs one round trip to Redis
instead of a transaction in the database.

Each entry is stored with the version of its key it was loaded under; a write bumps that
version once its transaction commits (`invalidate_after_commit`), so an entry loaded before
the write, or filled while it was committing, is never served again. A cold key is loaded
once per worker (the others wait for that load) and, across workers, by whoever takes a
short lock first while the rest wait for the fill. Redis that is down or slow is a miss:
every command is bounded by `TIMEOUT_SECONDS`, and after a failure Redis is left alone for
`PAUSE_SECONDS`. Changes that bypass the service that invalidates (SQL by hand, a cascade
from another table) show after at most the TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from fastapi import Request
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import after_commit

if TYPE_CHECKING:
    import coredis

TIMEOUT_SECONDS = 0.1  # per command: a slow Redis costs a request at most this, then a miss
PAUSE_SECONDS = 1.0  # after a failure, skip Redis for this long instead of timing out per request
LOCK_SECONDS = 2.0  # how long one worker may hold a cold key's load before others load too
POLL_SECONDS = 0.01  # how often a waiting worker looks for the fill
Load = Callable[[], Awaitable[bytes | None]]


class Cache:
    """Entries of bytes under `<prefix>:<namespace>:<key>`; the caller chooses the encoding."""

    def __init__(self, url: str, *, prefix: str, ttl_seconds: int) -> None:
        # Imported here: a service with the cache off does not carry the client in memory.
        import coredis
        from coredis.retry import NoRetryPolicy

        self._nx: Literal[coredis.PureToken.NX] = coredis.PureToken.NX
        self._failures = (coredis.exceptions.RedisError, OSError, TimeoutError)
        self.redis: coredis.Redis[bytes] = coredis.Redis.from_url(
            url,
            stream_timeout=TIMEOUT_SECONDS,
            connect_timeout=TIMEOUT_SECONDS,
            retry_policy=NoRetryPolicy(),
        )
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._loading: dict[str, asyncio.Future[bytes | None]] = {}
        self._paused_until = 0.0

    async def get(self, namespace: str, key: str, load: Load) -> bytes | None:
        """The entry, or what `load` returns (stored unless None); `load` runs at most once
        per worker for concurrent callers of a cold key."""
        name = f"{self.prefix}:{namespace}:{key}"
        pending = self._loading.get(name)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled
            # The caller loading it was cancelled (its client went away): load it ourselves.
            return await self.get(namespace, key, load)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._loading[name] = future
        try:
            value = await self._get(name, load)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: only the waiters, if any, raise it
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._loading[name]

    async def _get(self, name: str, load: Load) -> bytes | None:
        version, entry = await self._read(name)
        if version is None:  # Redis unavailable: the database answers
            return await load()
        if entry is not None:
            return entry
        lock = f"{name}:lock"
        taken = await self._command(
            lambda: self.redis.set(lock, b"1", px=_ms(LOCK_SECONDS), condition=self._nx)
        )
        if not taken:
            filled = await self._wait_for_fill(name)
            if filled is not None:
                return filled
            return await load()
        try:
            value = await load()
            if value is not None:
                entry = version + b"|" + value
                await self._command(lambda: self.redis.set(name, entry, ex=self.ttl_seconds))
            return value
        finally:
            await self._command(lambda: self.redis.delete([lock]))

    async def _read(self, name: str) -> tuple[bytes | None, bytes | None]:
        """(the key's current version, the entry if it was stored under that version); the
        version is None when Redis cannot answer."""
        found = await self._command(lambda: self.redis.mget([f"{name}:version", name]))
        if not isinstance(found, tuple):
            return None, None
        version = found[0] or b"0"
        stored = found[1]
        if stored is None:
            return version, None
        tag, _, value = stored.partition(b"|")
        return version, (value if tag == version else None)

    async def _wait_for_fill(self, name: str) -> bytes | None:
        deadline = time.monotonic() + LOCK_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            version, entry = await self._read(name)
            if version is None or entry is not None:
                return entry
        return None

    def invalidate_after_commit(self, session: AsyncSession, namespace: str, key: str) -> None:
        """Once `session` commits, bump the key's version: what was cached is never served."""
        name = f"{self.prefix}:{namespace}:{key}"

        async def bump() -> None:
            await self._command(lambda: self.redis.incr(f"{name}:version"))
            # The version outlives every entry stored under an older one.
            await self._command(lambda: self.redis.expire(f"{name}:version", 2 * self.ttl_seconds))

        after_commit(session, bump)

    async def _command(self, command: Callable[[], Awaitable[object]]) -> object:
        """The command's answer, or None when Redis fails or is paused after a failure."""
        if time.monotonic() < self._paused_until:
            return None
        try:
            return await command()
        except self._failures as error:
            self._paused_until = time.monotonic() + PAUSE_SECONDS
            logger.warning("cache unavailable for {} s: {!r}", PAUSE_SECONDS, error)
            return None

    async def close(self) -> None:
        self.redis.connection_pool.disconnect()


def app_cache(request: Request) -> Cache | None:
    """The app's cache, or None when it is off (`CACHE_TTL_SECONDS=0`)."""
    cache: Cache | None = getattr(request.app.state, "cache", None)
    return cache


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
