"""A short per-worker memory of which accounts are active, so a bearer token costs no query.

One cache per app (kept on `app.state`, made on first use); eviction reaches every cache of
the process, so a change made through this worker's users service applies at once. Other
workers learn of it when their entry expires (`AUTH_CACHE_SECONDS`).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

from fastapi import FastAPI

from app.core.config import Settings

DEFAULT_MAX_ENTRIES = 10_000

_caches: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


class PrincipalCache:
    """Active accounts' `is_superuser`, each trusted until its monotonic expiry time.

    Only active accounts are stored: an inactive or missing one is looked up every time. All
    entries live equally long, so insertion order is expiry order: the oldest go first.
    Methods never await, so each runs whole between two coroutines' steps; `generation()`
    and `put(..., since=...)` keep a lookup that raced an eviction from storing stale state.
    """

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[int, tuple[bool, float]] = {}
        self._evictions = 0
        _caches.add(self)

    @property
    def is_enabled(self) -> bool:
        return self.ttl_seconds > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: int) -> bool | None:
        """The account's `is_superuser` while its entry is fresh, else None (look it up)."""
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        is_superuser, expires_at = entry
        if self._clock() >= expires_at:
            del self._entries[user_id]
            return None
        return is_superuser

    def generation(self) -> int:
        """Take this before looking an account up, and pass it to `put`."""
        return self._evictions

    def put(self, user_id: int, is_superuser: bool, *, since: int) -> None:
        """Remember an active account, unless an eviction happened since the lookup began:
        then what was read may predate the change that caused it."""
        if not self.is_enabled or since != self._evictions:
            return
        now = self._clock()
        self._entries.pop(user_id, None)  # re-inserted last: insertion order stays expiry order
        if len(self._entries) >= self.max_entries:
            self._drop_oldest(now)
        self._entries[user_id] = (is_superuser, now + self.ttl_seconds)

    def evict(self, user_id: int) -> None:
        self._evictions += 1
        self._entries.pop(user_id, None)

    def _drop_oldest(self, now: float) -> None:
        """Drop the expired entries, then the oldest ones, until one entry fits."""
        entries = self._entries
        while entries:
            oldest = next(iter(entries))
            if entries[oldest][1] > now and len(entries) < self.max_entries:
                return
            del entries[oldest]


def for_app(app: FastAPI) -> PrincipalCache:
    """The app's cache, made on first use with the app's `AUTH_CACHE_SECONDS`."""
    cache: PrincipalCache | None = getattr(app.state, "principal_cache", None)
    if cache is None:
        settings: Settings = app.state.settings
        cache = PrincipalCache(settings.AUTH_CACHE_SECONDS)
        app.state.principal_cache = cache
    return cache


def evict(user_id: int) -> None:
    """Forget the account in every cache of this process (its next request looks it up)."""
    for cache in list(_caches):
        cache.evict(user_id)
