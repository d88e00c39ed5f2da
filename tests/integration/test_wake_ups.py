"""Wake-ups on the real Redis: one waits at a time, and a started one lets the next commit enqueue another."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from infra.queue import ADVANCE_JOB, Waker, queue_name, wake_up_started
from infra.settings import Settings


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    connection = Redis.from_url(settings.redis_url)
    yield connection
    await connection.aclose()


async def test_commits_while_a_wake_up_waits_enqueue_no_other(settings: Settings, redis: Redis) -> None:
    waker = Waker(settings)
    try:
        for _ in range(5):
            await waker.wake()
        assert await redis.zcard(queue_name(settings)) == 1
        # A worker starts it: what commits from now on is not its to read, so the next commit wakes again.
        await wake_up_started(redis, settings, ADVANCE_JOB)
        await waker.wake()
        await waker.wake()
        assert await redis.zcard(queue_name(settings)) == 2
    finally:
        await waker.close()
        await redis.delete(queue_name(settings))
