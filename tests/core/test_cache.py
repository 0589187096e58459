"""The Redis cache-aside helper against a real Redis: hits, invalidation at commit, one load
for a cold key, and a clean miss when Redis is down. Keys live under a prefix unique to the
test and are deleted afterwards (never FLUSHDB: others share this Redis)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator

import coredis
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.core.cache import PAUSE_SECONDS, TIMEOUT_SECONDS, Cache
from app.core.config import Settings
from tests.conftest import SettingsFactory
from tests.factories import account
from tests.servers import closed_port

REDIS = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.redis


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"test-cache-{uuid.uuid4().hex[:12]}"
    yield name
    redis: coredis.Redis[bytes] = coredis.Redis.from_url(REDIS)
    keys: list[str | bytes] = [key async for key in redis.scan_iter(match=f"{name}:*")]
    if keys:
        await redis.delete(keys)


class Loads:
    """A loader that counts its calls and can be slow."""

    def __init__(self, value: bytes | None = b"row", seconds: float = 0.0) -> None:
        self.value, self.seconds, self.calls = value, seconds, 0

    async def __call__(self) -> bytes | None:
        self.calls += 1
        await asyncio.sleep(self.seconds)
        return self.value


async def test_a_second_read_is_a_hit(prefix: str) -> None:
    cache = Cache(REDIS, prefix=prefix, ttl_seconds=60)
    load = Loads()
    assert await cache.get("items", "1", load) == b"row"
    assert await cache.get("items", "1", load) == b"row"
    assert load.calls == 1
    missing = Loads(None)
    assert await cache.get("items", "2", missing) is None
    assert await cache.get("items", "2", missing) is None
    assert missing.calls == 2  # nothing is stored for a row that does not exist
    await cache.close()


async def test_a_cold_key_is_loaded_once_by_concurrent_callers(prefix: str) -> None:
    workers = [Cache(REDIS, prefix=prefix, ttl_seconds=60) for _ in range(2)]
    load = Loads(seconds=0.2)
    values = await asyncio.gather(*(workers[n % 2].get("items", "7", load) for n in range(20)))
    assert values == [b"row"] * 20
    assert load.calls == 1  # one per process at most, and across processes the lock holder's
    for cache in workers:
        await cache.close()


async def test_waiters_load_themselves_when_the_loading_caller_is_cancelled(prefix: str) -> None:
    cache = Cache(REDIS, prefix=prefix, ttl_seconds=60)
    load = Loads(seconds=0.2)
    leader = asyncio.create_task(cache.get("items", "9", load))
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(cache.get("items", "9", load))
    await asyncio.sleep(0.05)
    leader.cancel()  # its client went away mid-load
    assert await waiter == b"row"
    assert leader.cancelled()
    assert load.calls == 2
    await cache.close()


async def test_a_fill_racing_a_write_is_never_served(prefix: str) -> None:
    """The row was read before a write committed, and stored after: its version is old."""
    cache = Cache(REDIS, prefix=prefix, ttl_seconds=60)
    stale = Loads(b"old", seconds=0.2)
    reading = asyncio.create_task(cache.get("items", "3", stale))
    await asyncio.sleep(0.05)  # the reader has read the version, and is loading
    redis: coredis.Redis[bytes] = coredis.Redis.from_url(REDIS)
    await redis.incr(f"{prefix}:items:3:version")  # what a commit does
    assert await reading == b"old"
    fresh = Loads(b"new")
    assert await cache.get("items", "3", fresh) == b"new"
    assert fresh.calls == 1
    await cache.close()


async def test_redis_down_is_a_bounded_miss_then_left_alone() -> None:
    with closed_port() as port:
        cache = Cache(f"redis://127.0.0.1:{port}/0", prefix="down", ttl_seconds=60)
        load = Loads()
        started = time.monotonic()
        assert await cache.get("items", "1", load) == b"row"
        assert await cache.get("items", "1", load) == b"row"
        assert time.monotonic() - started < 4 * TIMEOUT_SECONDS + 0.5
        assert load.calls == 2
        assert cache._paused_until > time.monotonic() + PAUSE_SECONDS / 2


@pytest.fixture
def settings(make_settings: SettingsFactory, prefix: str) -> Settings:
    """The app of `application` and `client` (which empty the tables after), cache on."""
    return make_settings(CACHE_TTL_SECONDS=60, REDIS_URL=REDIS, CACHE_KEY_PREFIX=prefix)


async def test_a_write_through_the_api_invalidates_at_commit(
    application: FastAPI, client: AsyncClient
) -> None:
    user = await account(application, client)
    other = await account(application, client)
    created = await client.post("/api/v1/items", json={"title": "a"}, headers=user.headers)
    url = created.headers["location"]
    first = await client.get(url, headers=user.headers)
    assert first.json()["title"] == "a"
    assert (await client.get(url, headers=other.headers)).status_code == 404  # cached too
    changed = await client.patch(url, json={"title": "b"}, headers=user.headers)
    assert changed.status_code == 200, changed.text
    read = await client.get(url, headers=user.headers)
    assert read.json() == changed.json()
    assert read.headers["etag"] == '"2"'
    assert (await client.delete(url, headers=user.headers)).status_code == 204
    assert (await client.get(url, headers=user.headers)).status_code == 404
