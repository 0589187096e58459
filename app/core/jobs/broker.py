"""The queue library's broker from the settings: Redis for replicas, in-process otherwise."""

from __future__ import annotations

from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import ListQueueBroker

from app.core.config import Settings


def make_broker(settings: Settings) -> AsyncBroker:
    """With JOBS_BROKER_URL, a Redis list every worker replica takes from; without it, each
    worker runs in process what its own relay hands it (the jobs table is the queue). Either
    way a message lost with a killed worker is handed over again when its lease ends."""
    if settings.JOBS_BROKER_URL:
        queue = f"{settings.SERVICE_CODE}:jobs"
        return ListQueueBroker(settings.JOBS_BROKER_URL, queue_name=queue)
    return InMemoryBroker(max_async_tasks=settings.JOBS_CONCURRENCY, propagate_exceptions=False)


def is_in_process(broker: AsyncBroker) -> bool:
    return isinstance(broker, InMemoryBroker)
