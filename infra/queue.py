"""Waking the worker through arq on Redis: a hint only, never the record of anything.

The job carries no data (no ids, no names): it only says "there is something
to read". A lost wake-up, or Redis being down, delays projections until the
worker's own sweep; it never loses an event, which PostgreSQL alone holds.

Each wake-up is a job of its own id. A fixed id would let one dead worker stop
every wake-up: arq keeps a job it started "in progress" (and its id taken) for
its whole timeout, minutes, when the worker dies running it. At most one
wake-up waits at a time all the same: a *pending* key, set (if absent) when
one is enqueued and deleted by the worker as one starts, says one is waiting;
it expires after ``PENDING_SECONDS``, so a worker that dies before starting
the job holds later wake-ups back for seconds at most.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import Redis

from infra.settings import Settings

ADVANCE_JOB = "advance_projections"
EXPORT_JOB = "render_exports"
# How long a wake-up counts as waiting unless a worker starts it: past that, the next commit enqueues another.
PENDING_SECONDS = 3.0
# A wake-up no worker started for this long is dropped unrun: the sweep has done its work by then.
EXPIRES_SECONDS = 60.0
_log = logging.getLogger("peoplelinks.queue")


def redis_settings(settings: Settings, *, fail_fast: bool = True) -> RedisSettings:
    """arq's connection settings; the API fails fast, since a wake-up is never worth waiting for."""
    parsed = RedisSettings.from_dsn(settings.redis_url)
    parsed.conn_timeout = 1
    parsed.conn_retries = 0 if fail_fast else 2
    return parsed


def queue_name(settings: Settings) -> str:
    """The arq queue of this deployment (or test run)."""
    return f"{settings.redis_prefix}:queue"


def cron_name(settings: Settings, job: str) -> str:
    """The name of one of this deployment's cron jobs.

    arq makes a cron job's id, and so its Redis keys (``arq:job:<id>``,
    ``arq:in-progress:<id>``), from the name and the time it is due. Without the
    prefix two deployments sharing a Redis would schedule the same id for the
    same daily run, and the second one's enqueue would find the first one's job
    and skip: that deployment would miss the run.
    """
    return f"{settings.redis_prefix}:cron:{job}"


def pending_key(settings: Settings, job: str) -> str:
    """The key saying a wake-up of ``job`` is enqueued and no worker has started one since."""
    return f"{settings.redis_prefix}:pending:{job}"


async def wake_up_started(redis: Redis, settings: Settings, job: str) -> None:
    """Called by the worker as a wake-up of ``job`` starts: a commit from now on needs a wake-up of its own.

    What committed before is this run's to read. A failure is only logged: the pending key expires anyway.
    """
    try:
        await redis.delete(pending_key(settings, job))
    except Exception as e:
        _log.warning("could not clear the pending wake-up (%s); it expires by itself", type(e).__name__)


class Waker:
    """Enqueues the deduplicated wake-up job after a commit; swallows and logs Redis failures."""

    # After a failure, appends stop trying Redis for this long: a counselor's
    # request must not wait on a dead Redis, and the sweep covers the gap.
    BACKOFF_SECONDS = 5.0

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._redis: ArqRedis | None = None
        self._lock = asyncio.Lock()
        self._quiet_until = 0.0
        self._in_flight: set[str] = set()

    async def _connection(self) -> ArqRedis:
        async with self._lock:
            if self._redis is None:
                self._redis = await create_pool(
                    redis_settings(self._settings), default_queue_name=queue_name(self._settings)
                )
            return self._redis

    async def wake(self, *_: Any) -> None:
        """Ask a worker to advance the projections (at most one such job waits at a time)."""
        await self._enqueue(ADVANCE_JOB)

    async def wake_exports(self) -> None:
        """Ask a worker to render the exports waiting in PostgreSQL (the job names none of them)."""
        await self._enqueue(EXPORT_JOB)

    async def _enqueue(self, job: str) -> None:
        loop = asyncio.get_running_loop()
        # A wake-up still being enqueued covers this commit too: its job can only
        # start after it is enqueued, which is after this commit. So concurrent
        # appends share one round trip to Redis.
        if loop.time() < self._quiet_until or job in self._in_flight:
            return
        self._in_flight.add(job)
        try:
            redis = await asyncio.wait_for(self._connection(), timeout=1.0)
            await asyncio.wait_for(self._enqueue_unless_pending(redis, job), timeout=0.5)
        except Exception as e:
            _log.warning("could not wake the worker (%s); its periodic sweep will do the work", type(e).__name__)
            self._quiet_until = loop.time() + self.BACKOFF_SECONDS
            await self._reset()
        finally:
            self._in_flight.discard(job)

    async def ping(self) -> bool:
        """Whether Redis answers now (for readiness; within about a second, never raising)."""
        try:
            redis = await asyncio.wait_for(self._connection(), timeout=1.0)
            return bool(await asyncio.wait_for(redis.ping(), timeout=0.5))
        except Exception as e:
            _log.debug("Redis did not answer a ping (%s)", type(e).__name__)
            await self._reset()
            return False

    async def _enqueue_unless_pending(self, redis: ArqRedis, job: str) -> None:
        # A wake-up waiting covers this commit too: it can only start after it was enqueued, after this commit.
        pending = pending_key(self._settings, job)
        job_id = f"{self._settings.redis_prefix}:{job}:{uuid.uuid4().hex}"
        if await redis.set(pending, job_id, nx=True, px=int(PENDING_SECONDS * 1000)):
            await redis.enqueue_job(job, _job_id=job_id, _expires=EXPIRES_SECONDS)

    async def _reset(self) -> None:
        redis, self._redis = self._redis, None
        if redis is not None:
            try:
                await redis.aclose()
            except Exception:
                _log.debug("closing a broken Redis connection failed")

    async def close(self) -> None:
        """Close the Redis connection."""
        await self._reset()
