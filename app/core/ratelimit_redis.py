"""Rate-limit counters in Redis (`REDIS_URL`), shared by every worker and replica.

An optional part of the template (`redis` in copier.yml): a service generated without it
keeps its counters in each process's memory and refuses to start with `REDIS_URL` set.
"""

from __future__ import annotations

from limits.aio.storage import RedisStorage, Storage

from app.core.config import Settings

REDIS_TIMEOUT_SECONDS = 1.0


def redis_storage(settings: Settings) -> Storage:
    """Counters under `<SERVICE_CODE>:ratelimit`; every Redis failure is a StorageError."""
    url = settings.REDIS_URL or ""
    return RedisStorage(
        url if url.startswith("async+") else "async+" + url,
        wrap_exceptions=True,
        key_prefix=f"{settings.SERVICE_CODE}:ratelimit",
        connect_timeout=REDIS_TIMEOUT_SECONDS,
        stream_timeout=REDIS_TIMEOUT_SECONDS,
    )
