"""Seeding the demo programme: its stories recorded, its read models brought up, a quarter released to funders.

``peoplelinks up`` seeds it once; ``peoplelinks demo-data`` at any size and
seed. Both record through ``Recorder.record`` (``services.demo.record_log``),
as any client's events are, and release through ``release_quarter``, the code
of ``POST /v1/reports/releases``, so that the demo funder login has a report
to read (funders read released quarters only).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import Callable

import msgspec

from infra.crypto import SubjectKeys
from infra.db import create_app_pool, create_worker_pool, tenant_connection
from infra.event_store import EventStore
from infra.settings import Settings
from projections.registry import PROJECTIONS
from projections.releases import list_releases, quarter_of
from projections.runner import catch_up, overall_lag
from services.api.reading_routes import ReportQuery, programme_settings, today_in
from services.api.release_routes import release_quarter
from services.api.report_routes import build_outcome_report
from services.api.security import Principal
from services.demo import DemoProgramme, LogLine, demo_log, record_log
from services.recording import Recorder


def demo_programme_log(demo: DemoProgramme, *, participants: int, seed: int, until: dt.datetime) -> list[LogLine]:
    """The demo's stories for the demo programme's counselors: the same seed, size and end give the same log."""
    counselors = [str(c) for c in demo.ids_of("counselor")]
    rng = random.Random(seed)  # noqa: S311 (made-up people, not a secret)
    return demo_log(rng, counselors, participants=participants, until=until)


async def record_demo(
    settings: Settings, programme_id: uuid.UUID, log: list[LogLine], progress: Callable[[int], None] | None = None
) -> int:
    """Record ``log`` through the Recorder (streams already stored are replays); the events stored."""
    pool = await create_app_pool(settings, min_size=1, max_size=2)
    try:
        recorder = Recorder(EventStore(pool), keys=SubjectKeys.from_settings(settings))
        return await record_log(recorder, programme_id, log, progress=progress)
    finally:
        await pool.close()


async def bring_up_read_models(settings: Settings, *, within: float = 120.0) -> None:
    """Advance every projection to the store's head, as the worker would (it may be running too: it then helps).

    A transaction open elsewhere in the cluster can hold the horizon back a moment, so
    this waits, for up to ``within`` seconds, until no projection lags.
    """
    pool = await create_worker_pool(settings, max_size=2)
    try:
        store = EventStore(pool)
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for projection, table in PROJECTIONS.values():
                await catch_up(store, projection, table=table)
            _, lags = await overall_lag(pool, list(PROJECTIONS))
            if all(lag == 0 for _, lag in lags) or asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.2)
    finally:
        await pool.close()


async def release_last_quarter(settings: Settings, demo: DemoProgramme) -> str | None:
    """Release to funders the last quarter that has ended, as the demo admin; None when it is released already."""
    admin = Principal(user_id=demo.ids_of("admin")[0], programme_id=demo.programme_id, role="admin")
    pool = await create_app_pool(settings, min_size=1, max_size=1)
    try:
        async with tenant_connection(pool, demo.programme_id) as db:
            today = today_in((await programme_settings(db, demo.programme_id)).time_zone)
            period = quarter_of(today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1) - dt.timedelta(days=1))
            if any(r.period == period for r in await list_releases(db, demo.programme_id)):
                return None
            await release_quarter(db, admin, period, None)
            return period
    finally:
        await pool.close()


class SourceStory(msgspec.Struct, frozen=True, kw_only=True):
    """How one route to a job fared: applications made, hires, and 90-day retention."""

    applications: int
    hires: int | None
    hires_per_application: float | None
    retention_90: float | None


class DemoStory(msgspec.Struct, frozen=True, kw_only=True):
    """What the outcome report of the whole demo says about referrals against online applications."""

    period_from: dt.date
    period_to: dt.date
    referral: SourceStory
    online: SourceStory


async def demo_story(settings: Settings, demo: DemoProgramme) -> DemoStory:
    """The staff outcome report over the demo's whole span, read for the story it tells."""
    staff = Principal(user_id=demo.ids_of("staff")[0], programme_id=demo.programme_id, role="staff")
    pool = await create_app_pool(settings, min_size=1, max_size=1)
    try:
        async with tenant_connection(pool, demo.programme_id) as db:
            today = today_in((await programme_settings(db, demo.programme_id)).time_zone)
            first = dt.date(2025, 1, 1)
            report = await build_outcome_report(db, staff, ReportQuery(from_date=first, to_date=today, as_of=today))
            rows = await db.fetch(
                """SELECT route, count(*) AS made FROM rm_applications
                   WHERE programme_id = $1 AND voided_at IS NULL GROUP BY route""",
                demo.programme_id,
            )
            applications: dict[str, int] = {row["route"]: int(row["made"]) for row in rows}
    finally:
        await pool.close()
    figures = msgspec.to_builtins(report.figures)

    def source(route: str, hire_source: str) -> SourceStory:
        hires = figures["hires_by_source"][hire_source]["value"]
        made = applications.get(route, 0)
        return SourceStory(
            applications=made,
            hires=hires,
            hires_per_application=hires / made if hires is not None and made else None,
            retention_90=figures["retention_by_source_90"][hire_source]["rate"]["value"],
        )

    return DemoStory(
        period_from=first,
        period_to=today,
        referral=source("referral", "referral"),
        online=source("online", "online_application"),
    )
