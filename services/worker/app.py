"""The worker's composition root: arq ``WorkerSettings`` with the projection tasks and the sweep.

Redis only wakes the worker. Besides the wake-up job, the worker runs its own
sweep loop that advances every projection every ``worker_sweep_seconds``
(one second by default) straight from PostgreSQL, so a lost job or a Redis
outage delays projections, never loses an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from arq.cron import cron
from arq.worker import Function, Worker, func

from infra.accounts import prune_authentication_records
from infra.db import create_worker_pool
from infra.event_store import EventStore
from infra.export_jobs import prune_exports, render_pending
from infra.queue import ADVANCE_JOB, EXPORT_JOB, cron_name, queue_name, redis_settings, wake_up_started
from infra.settings import Settings
from projections.holds import RETRY_SECONDS, release_holds
from projections.kept_reports import keep_monthly_reports
from projections.participant_views import prepare_follow_ups
from projections.registry import PROJECTIONS
from projections.runner import catch_up
from services.exports import render
from services.observability import WORKER_JOBS

_log = logging.getLogger("peoplelinks.worker")
R = TypeVar("R")


def counted(job: str, task: Callable[[dict[str, Any]], Awaitable[R]]) -> Callable[..., Coroutine[Any, Any, R]]:
    """``task``, counting each run's outcome in ``peoplelinks_worker_jobs_total{job, outcome}``."""

    @functools.wraps(task)
    async def run(ctx: dict[str, Any]) -> R:
        try:
            result = await task(ctx)
        except BaseException as e:
            # A cancelled job (shutdown) neither succeeded nor failed.
            if not isinstance(e, asyncio.CancelledError):
                WORKER_JOBS.labels(job, "failed").inc()
            raise
        WORKER_JOBS.labels(job, "succeeded").inc()
        return result

    return run


async def advance_projections(ctx: dict[str, Any]) -> int:
    """Advance every projection until it has read everything readable (idempotent)."""
    store: EventStore = ctx["store"]
    total = 0
    for projection, table in PROJECTIONS.values():
        total += await catch_up(store, projection, table=table)
    return total


async def release_projection_holds(ctx: dict[str, Any]) -> int:
    """Apply held programmes' events again (a fixed worker, or an operator's skip, lets them through)."""
    store: EventStore = ctx["store"]
    released = 0
    for projection, table in PROJECTIONS.values():
        released += await release_holds(store, projection, table=table)
    return released


async def render_exports(ctx: dict[str, Any]) -> int:
    """Render every export waiting in PostgreSQL (the API asked for them; the job names none)."""
    store: EventStore = ctx["store"]
    total = 0
    while rendered := await render_pending(store.pool, render):
        total += rendered
    return total


async def keep_monthly_reports_job(ctx: dict[str, Any]) -> int:
    """Keep each programme's monthly outcome report (idempotent; runs daily and at start-up)."""
    store: EventStore = ctx["store"]
    return await keep_monthly_reports(store.pool, dt.datetime.now(dt.UTC).date())


async def prepare_follow_ups_job(ctx: dict[str, Any]) -> int:
    """Keep today's follow-up answers of every programme ready (idempotent; runs hourly, so each zone's new day)."""
    store: EventStore = ctx["store"]
    return await prepare_follow_ups(store.pool, dt.datetime.now(dt.UTC))


async def prune_authentication_job(ctx: dict[str, Any]) -> None:
    """Forget old login attempts and long-expired sessions (client addresses are personal data)."""
    store: EventStore = ctx["store"]
    await prune_authentication_records(store.pool, keep=dt.timedelta(days=30))


async def prune_report_exports_job(ctx: dict[str, Any]) -> int:
    """Delete old stored exports, and each programme's beyond the newest few (idempotent; runs daily)."""
    store: EventStore = ctx["store"]
    settings: Settings = ctx["settings"]
    return await prune_exports(
        store.pool,
        keep=dt.timedelta(days=settings.export_keep_days),
        per_programme=settings.export_keep_per_programme,
    )


async def _sweep_forever(ctx: dict[str, Any], every: float) -> None:
    loop = asyncio.get_running_loop()
    next_release = loop.time()  # at start-up first: the worker may be the fix a hold waits for
    sweep = counted("sweep_projections", advance_projections)
    release = counted("release_projection_holds", release_projection_holds)
    exports = counted("sweep_exports", render_exports)
    while True:
        try:
            await sweep(ctx)
        except Exception as e:
            _log.warning("sweep failed: %s", type(e).__name__)
        if loop.time() >= next_release:
            next_release = loop.time() + RETRY_SECONDS
            try:
                await release(ctx)
            except Exception as e:
                _log.warning("releasing projection holds failed: %s", type(e).__name__)
        try:
            await exports(ctx)
        except Exception as e:
            _log.warning("export sweep failed: %s", type(e).__name__)
        await asyncio.sleep(every)


def _wake_up(job: str, task: Callable[[dict[str, Any]], Awaitable[int]], settings: Settings) -> Function:
    """``task`` as the wake-up job ``job``: it first lets the next commit enqueue a wake-up (infra/queue.py)."""

    async def woken(ctx: dict[str, Any]) -> int:
        await wake_up_started(ctx["redis"], settings, job)
        return await task(ctx)

    return func(woken, name=job, max_tries=3)


def worker_kwargs(settings: Settings, store: EventStore) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``: the wake-up jobs and their resources."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["store"] = store
        ctx["settings"] = settings

    return {
        "functions": [
            _wake_up(ADVANCE_JOB, counted(ADVANCE_JOB, advance_projections), settings),
            _wake_up(EXPORT_JOB, counted(EXPORT_JOB, render_exports), settings),
        ],
        "cron_jobs": [
            cron(
                counted("keep_monthly_reports", keep_monthly_reports_job),
                name=cron_name(settings, "keep_monthly_reports"),
                hour={2},
                minute={15},
                run_at_startup=True,
                unique=True,
            ),
            cron(
                counted("prepare_follow_ups", prepare_follow_ups_job),
                name=cron_name(settings, "prepare_follow_ups"),
                minute={10},
                unique=True,
            ),
            cron(
                counted("prune_authentication", prune_authentication_job),
                name=cron_name(settings, "prune_authentication"),
                hour={3},
                minute={5},
                unique=True,
            ),
            cron(
                counted("prune_report_exports", prune_report_exports_job),
                name=cron_name(settings, "prune_report_exports"),
                hour={3},
                minute={25},
                unique=True,
            ),
        ],
        "on_startup": on_startup,
        "redis_settings": redis_settings(settings, fail_fast=False),
        "queue_name": queue_name(settings),
        # The wake-up jobs keep no result: nobody reads one.
        "keep_result": 0,
        "max_jobs": 4,
        "poll_delay": 0.05,
        "handle_signals": False,
    }


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the sweep and the arq worker until ``stop`` is set (or the process is stopped).

    When Redis goes away the arq worker fails; the sweep goes on, and the arq
    worker is started again every few seconds until Redis answers.
    """
    stop = stop or asyncio.Event()
    pool = await create_worker_pool(settings)
    ctx: dict[str, Any] = {"store": EventStore(pool)}
    sweep = asyncio.create_task(_sweep_forever(ctx, settings.worker_sweep_seconds))
    try:
        while not stop.is_set():
            worker = Worker(**worker_kwargs(settings, ctx["store"]))
            running = asyncio.create_task(worker.async_run())
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
                await worker.close()
                break
            stopping.cancel()
            error = running.exception()
            _log.warning(
                "the arq worker stopped (%s); waking by sweep only, retrying Redis shortly",
                type(error).__name__ if error else "no error",
            )
            with contextlib.suppress(Exception):
                await worker.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=3.0)
    finally:
        sweep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep
        await pool.close()
