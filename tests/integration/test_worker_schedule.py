"""The worker's scheduled jobs in a Redis shared by several deployments."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec
import redis.asyncio as redis
from arq import create_pool
from arq.worker import Worker

from infra.event_store import EventStore
from infra.queue import queue_name, redis_settings
from infra.settings import Settings
from services.worker.app import worker_kwargs


async def test_deployments_sharing_a_redis_each_schedule_their_own_monthly_report(
    settings: Settings, worker_pool: asyncpg.Pool
) -> None:
    deployments = [settings, msgspec.structs.replace(settings, redis_prefix=f"{settings.redis_prefix}:other")]
    # Both workers schedule the run due at one moment, as every deployment's daily 02:15 run is.
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    client = redis.from_url(settings.redis_url)
    pools = [await create_pool(redis_settings(s), default_queue_name=queue_name(s)) for s in deployments]
    try:
        for deployment, pool in zip(deployments, pools, strict=True):
            worker = Worker(**{**worker_kwargs(deployment, EventStore(worker_pool)), "redis_pool": pool})
            await worker.run_cron(due, delay=0.5)

        for deployment in deployments:
            scheduled = [job.decode() for job in await client.zrange(queue_name(deployment), 0, -1)]
            assert [job for job in scheduled if "keep_monthly_reports" in job], (deployment.redis_prefix, scheduled)
        keys = [key.decode() async for key in client.scan_iter(match="arq:*keep_monthly_reports*")]
        ours = [key for key in keys if str(int(due.timestamp() * 1000)) in key]
        assert len(ours) == 2
        assert all(key.startswith(f"arq:job:{settings.redis_prefix}:") for key in ours), ours
    finally:
        for deployment in deployments:
            for job in await client.zrange(queue_name(deployment), 0, -1):
                await client.delete(b"arq:job:" + job)
            await client.delete(queue_name(deployment))
        for pool in pools:
            await pool.aclose()
        await client.aclose()
