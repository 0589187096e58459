"""Per-worker runtime series: database pool use, time waited for a connection, event-loop lag
and resident memory. A task samples them every 5 seconds; per request, nothing (a checkout is
timed only when it finds no idle connection). Under gunicorn each worker's gauges carry its
`pid`; dead workers' are dropped."""

from __future__ import annotations

import asyncio
import contextlib
import os

from loguru import logger
from prometheus_client import CollectorRegistry, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import TimedPool

SAMPLE_SECONDS = 5.0  # Prometheus scrapes every 15 s: fresher values would go unseen
WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = "/proc/self/statm"


class RuntimeMetrics:
    """The families, registered in the app's registry (one set per app)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, multiprocess_mode="liveall", registry=registry)

        self.in_use = gauge("db_pool_connections_in_use", "Pooled connections checked out.")
        self.idle = gauge("db_pool_connections_idle", "Pooled connections open and free.")
        self.overflow = gauge("db_pool_overflow", "Connections open beyond DB_POOL_SIZE.")
        self.capacity = gauge(
            "db_pool_max_connections", "Connections the pool may hold (size plus overflow)."
        )
        self.loop_lag = gauge(
            "event_loop_lag_seconds",
            "How late the event loop ran the last sampling timer (every 5 s).",
        )
        self.memory = gauge("worker_resident_memory_bytes", "Resident memory of the worker.")
        self.wait = Histogram(
            "db_pool_wait_seconds",
            "Time a checkout that found no idle connection took to get one (freed or opened).",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )

    def sample_pool(self, pool: TimedPool) -> None:
        self.in_use.set(pool.checkedout())
        self.idle.set(pool.checkedin())
        self.overflow.set(max(0, pool.overflow()))
        self.capacity.set(pool.size() + pool._max_overflow)


def resident_bytes() -> int | None:
    """This process's resident set (Linux `/proc`), or None where there is no such file."""
    try:
        with open(_STATM, encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


async def _sample(metrics: RuntimeMetrics, engine: AsyncEngine) -> None:
    loop = asyncio.get_running_loop()
    while True:
        pool = engine.sync_engine.pool
        if isinstance(pool, TimedPool):
            metrics.sample_pool(pool)
        memory = resident_bytes()
        if memory is not None:
            metrics.memory.set(memory)
        planned = loop.time() + SAMPLE_SECONDS
        await asyncio.sleep(SAMPLE_SECONDS)
        metrics.loop_lag.set(max(0.0, loop.time() - planned))


def start(metrics: RuntimeMetrics, engine: AsyncEngine) -> asyncio.Task[None]:
    """Time the pool's checkouts and sample the rest in this worker, until `stop`."""
    pool = engine.sync_engine.pool
    if isinstance(pool, TimedPool):
        pool.waited = metrics.wait.observe
    task = asyncio.get_running_loop().create_task(_sample(metrics, engine), name="runtime")
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.opt(exception=task.exception()).error("runtime metrics stopped")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
