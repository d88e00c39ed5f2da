"""The worker prunes stored exports: past an age, and past a number per programme (issue 14, item 4).

40 distinct PDFs asked for by one client were stored for good. Stored files are
a cache of report bodies that can be rendered again, so the worker's daily job
deletes those older than ``PEOPLELINKS_EXPORT_KEEP_DAYS`` and each programme's
beyond its newest ``PEOPLELINKS_EXPORT_KEEP_PER_PROGRAMME``.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec

from infra.event_store import EventStore
from infra.settings import Settings
from services.worker.app import prune_report_exports_job, worker_kwargs
from tests.support import Api, Tenant


async def _prune(settings: Settings, worker_pool: asyncpg.Pool) -> int:
    """The worker's job, with the resources its start-up gives it."""
    ctx: dict[str, Any] = {}
    await worker_kwargs(settings, EventStore(worker_pool))["on_startup"](ctx)
    return await prune_report_exports_job(ctx)


async def _store(owner: asyncpg.Connection, programme_id: uuid.UUID, label: str, *, days_ago: float | None) -> None:
    """An export row: rendered ``days_ago`` days ago, or (None) still waiting for the worker."""
    await owner.execute(
        """INSERT INTO report_exports (programme_id, hash, format, body, requested_at, rendered_at, content)
           VALUES ($1, $2, 'pdf', '{}', now() - make_interval(secs => $3),
                   CASE WHEN $4 THEN now() - make_interval(secs => $3) END,
                   CASE WHEN $4 THEN '\\x25504446'::bytea END)""",
        programme_id,
        f"sha256:{label}",
        (days_ago or 0) * 86_400,
        days_ago is not None,
    )


async def _labels(owner: asyncpg.Connection, programme_id: uuid.UUID) -> set[str]:
    rows = await owner.fetch("SELECT hash FROM report_exports WHERE programme_id = $1", programme_id)
    return {row["hash"].removeprefix("sha256:") for row in rows}


async def test_old_exports_and_those_past_the_cap_of_their_programme_are_deleted(
    settings: Settings, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, other_tenant: Tenant
) -> None:
    settings = msgspec.structs.replace(settings, export_keep_days=14, export_keep_per_programme=2)
    for label, days_ago in [("old", 20.0), ("older", 40.0), ("new1", 0.1), ("new2", 1.0), ("new3", 2.0)]:
        await _store(owner, tenant.programme_id, label, days_ago=days_ago)
    await _store(owner, tenant.programme_id, "waiting", days_ago=None)
    for label, days_ago in [("a", 3.0), ("b", 4.0)]:
        await _store(owner, other_tenant.programme_id, label, days_ago=days_ago)

    assert await _prune(settings, worker_pool) == 3
    # The two newest rendered ones stay, and the request still waiting for the worker.
    assert await _labels(owner, tenant.programme_id) == {"new1", "new2", "waiting"}
    # The cap is per programme: the other's two are within it.
    assert await _labels(owner, other_tenant.programme_id) == {"a", "b"}
    assert await _prune(settings, worker_pool) == 0


async def test_a_pruned_pdf_is_rendered_again_when_asked_for(
    api: Api, settings: Settings, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, export_worker: None
) -> None:
    path = "/v1/reports/outcomes?from=2026-01-01&to=2026-03-31&as_of=2026-04-30&format=pdf"
    first = await api.download(path)
    assert first.status_code == 200, first.text
    assert await owner.fetchval("SELECT count(*) FROM report_exports WHERE content IS NOT NULL") == 1

    await owner.execute("UPDATE report_exports SET rendered_at = rendered_at - interval '15 days'")
    assert await _prune(settings, worker_pool) == 1
    assert await owner.fetchval("SELECT count(*) FROM report_exports") == 0

    again = await api.download(path)
    assert again.status_code == 200, again.text
    assert again.headers["x-report-hash"] == first.headers["x-report-hash"]
    assert again.content.startswith(b"%PDF")
