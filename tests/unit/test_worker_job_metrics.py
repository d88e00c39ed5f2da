"""Each worker job's outcome is counted by job name: succeeded, failed, and nothing for a cancelled job."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.worker.app import counted


def _count(job: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("peoplelinks_worker_jobs_total", {"job": job, "outcome": outcome}) or 0.0


async def test_a_job_that_returns_counts_as_succeeded_and_one_that_raises_as_failed() -> None:
    async def fine(ctx: dict[str, Any]) -> int:
        return 7

    async def broken(ctx: dict[str, Any]) -> int:
        raise RuntimeError("no")

    succeeded, failed = _count("test_fine", "succeeded"), _count("test_broken", "failed")
    assert await counted("test_fine", fine)({}) == 7
    with pytest.raises(RuntimeError):
        await counted("test_broken", broken)({})
    assert _count("test_fine", "succeeded") == succeeded + 1
    assert _count("test_broken", "failed") == failed + 1
    assert _count("test_fine", "failed") == 0


async def test_a_cancelled_job_is_neither() -> None:
    async def slow(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(counted("test_slow", slow)({}))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _count("test_slow", "failed") == _count("test_slow", "succeeded") == 0
