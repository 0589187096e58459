"""The queue library's broker from the settings: Redis for replicas, in-process otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import ListQueueBroker

from app.core.config import Settings

BLOCK_SECONDS = 2  # below redis-py's 5 s socket timeout, so an idle wait is never an error
RECONNECT_SECONDS = 1.0


class RedisQueue(ListQueueBroker):
    """taskiq-redis's list queue, waiting in bounded blocks: its own endless BRPOP outlives
    redis-py's socket timeout, and it retries a lost server without pause."""

    async def listen(self) -> AsyncGenerator[bytes, None]:
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    popped = await redis.brpop([self.queue_name], timeout=BLOCK_SECONDS)
            except (RedisError, OSError) as error:
                logger.warning("job queue unreachable, retrying: {!r}", error)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            if popped is not None:
                message = popped[1]
                yield message.encode() if isinstance(message, str) else message


def make_broker(settings: Settings) -> AsyncBroker:
    """With JOBS_BROKER_URL, a Redis list every worker replica takes from; without it, each
    worker runs in process what its own relay hands it (the jobs table is the queue). Either
    way a message lost with a killed worker is handed over again when its lease ends."""
    if settings.JOBS_BROKER_URL:
        return RedisQueue(settings.JOBS_BROKER_URL, queue_name=f"{settings.SERVICE_CODE}:jobs")
    return InMemoryBroker(max_async_tasks=settings.JOBS_CONCURRENCY, propagate_exceptions=False)


def is_in_process(broker: AsyncBroker) -> bool:
    return isinstance(broker, InMemoryBroker)
