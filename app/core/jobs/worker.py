"""The worker process: the relay, the queue library's receiver, metrics, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress

from loguru import logger
from prometheus_client import start_http_server
from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker
from taskiq.receiver import Receiver

from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.core.jobs import registry
from app.core.jobs.broker import is_in_process, make_broker
from app.core.jobs.metrics import JobMetrics
from app.core.jobs.relay import BATCH, Relay
from app.core.jobs.runner import Runner
from app.core.telemetry import start_tracing, stop_tracing, trace_engine
from app.core.version import load_build_info


def _entry(runner: Runner, in_flight: set[int]) -> Callable[[int], Awaitable[None]]:
    """What the queue library calls for every task name: one attempt at job `job_id`."""

    async def run_job(job_id: int) -> None:
        in_flight.add(job_id)
        try:
            await runner.run(job_id)
        finally:
            in_flight.discard(job_id)

    return run_job


async def serve(settings: Settings, stop: asyncio.Event, metrics: JobMetrics) -> None:
    """Run jobs until `stop` is set, then let running ones finish for JOBS_DRAIN_SECONDS."""
    engine = create_engine(settings)
    if start_tracing(settings, load_build_info(settings).version):
        trace_engine(engine)
    factory = create_session_factory(engine)
    runner = Runner(factory, settings, metrics)
    broker = make_broker(settings)
    in_flight: set[int] = set()
    for known in registry.tasks():
        broker.register_task(_entry(runner, in_flight), task_name=known.name)
    metrics.start_at_zero(known.name for known in registry.tasks())
    in_process = is_in_process(broker)

    async def kick(task: str, job_id: int) -> None:
        kicker: AsyncKicker[[int], None] = AsyncKicker(task, broker, {})
        await kicker.kiq(job_id)

    def capacity() -> int:  # in process, take no more than this worker runs at once
        return settings.JOBS_CONCURRENCY - len(in_flight) if in_process else BATCH

    relay = Relay(factory, settings, metrics, kick, capacity)
    await broker.startup()
    names = ", ".join(known.name for known in registry.tasks()) or "none"
    logger.info("job worker started (broker={}, tasks: {})", type(broker).__name__, names)
    relaying = asyncio.create_task(relay.run(stop))
    try:
        if in_process:
            await stop.wait()
        else:
            await _receive(broker, settings, stop)
    finally:
        stop.set()
        await relaying
        await _drain(broker, in_flight, settings.JOBS_DRAIN_SECONDS)
        await broker.shutdown()
        await engine.dispose()
        stop_tracing()
        logger.info("job worker stopped")


async def _receive(broker: AsyncBroker, settings: Settings, stop: asyncio.Event) -> None:
    """Take jobs from the queue until `stop`; while the queue is unreachable, try again each
    poll (jobs cut off by the outage are retried when their lease ends)."""
    while not stop.is_set():
        receiver = Receiver(
            broker,
            max_async_tasks=settings.JOBS_CONCURRENCY,
            run_startup=False,
            propagate_exceptions=False,
            wait_tasks_timeout=settings.JOBS_DRAIN_SECONDS,
        )
        try:
            await receiver.listen(stop)
        except Exception as error:
            logger.warning("job queue unreachable, retrying: {!r}", error)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.JOBS_POLL_SECONDS)


async def _drain(broker: AsyncBroker, in_flight: set[int], seconds: float) -> None:
    """Wait for running jobs; those still running after `seconds` keep their rows `running`
    and are retried by another worker when their lease ends."""
    if in_flight:
        logger.info("draining {} running job(s), up to {} s", len(in_flight), seconds)
    waiting = asyncio.get_running_loop().time() + seconds
    while in_flight and asyncio.get_running_loop().time() < waiting:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if in_flight:
        logger.warning("stopping with {} job(s) unfinished: retried later", len(in_flight))


def run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; metrics on JOBS_METRICS_PORT."""
    # The runner logs each attempt with the enqueuing request's id; taskiq's own line per
    # message would repeat it without.
    logging.getLogger("taskiq.receiver").setLevel(logging.WARNING)
    metrics = JobMetrics()
    if settings.JOBS_METRICS_PORT:
        try:
            start_http_server(settings.JOBS_METRICS_PORT, settings.HOST, registry=metrics.registry)
        except OSError as error:  # jobs still run; a probe on the port will say so
            logger.error("no metrics on port {}: {}", settings.JOBS_METRICS_PORT, error)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop, metrics)

    asyncio.run(main())
