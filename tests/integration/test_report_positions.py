"""Report positions that no later commit can move: an append in flight below an answered position stays out."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest

from infra.db import tenant_connection
from infra.event_store import EventStore, Metadata, NewEvent, StreamAppend
from projections import read_models
from projections.kept_reports import keep_monthly_reports
from projections.positions import PositionNotReached, report_position
from projections.runner import catch_up
from tests.support import Api, Tenant, envelope, new_id

REPORT = "/v1/reports/outcomes?from=2026-01-01&to=2026-06-30&as_of=2026-06-30"
DASHBOARD = "/v1/dashboards/response-rates?from=2026-01-01&to=2026-06-30&as_of=2026-06-30"


async def _project(worker_pool: asyncpg.Pool, settle_seconds: float = 30) -> None:
    # Settling: a transaction elsewhere in the cluster may hold the horizon for a moment.
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=settle_seconds)


def _outreach(contact: str) -> dict[str, Any]:
    data = {"outreach_id": new_id(), "contact_id": contact, "channel": "email", "purpose": "introduction"}
    return envelope("outreach_sent", data, occurred_at="2026-03-05T10:00:00Z")


async def _answers(api: Api, suffix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    report = await api.get(REPORT + suffix)
    dashboard = await api.get(DASHBOARD + suffix)
    assert report.status_code == 200, report.text
    assert dashboard.status_code == 200, dashboard.text
    return report.json(), dashboard.json()


@contextlib.asynccontextmanager
async def _slow_append(pool: asyncpg.Pool, tenant: Tenant, participant: str, contact: str) -> AsyncIterator[int]:
    """An outreach appended in a transaction left open (a slow commit): yields its position, commits on leaving."""
    async with tenant_connection(pool, tenant.programme_id) as slow:
        held = slow.transaction()
        await held.start()
        try:
            stream_id = f"participant-{participant}"
            version = await slow.fetchval(
                "SELECT max(stream_version) FROM events WHERE programme_id = $1 AND stream_id = $2",
                tenant.programme_id,
                stream_id,
            )
            late = _outreach(contact)
            event = NewEvent(
                event_id=uuid.uuid4(),
                type="outreach_sent",
                data=msgspec.json.encode(late["data"]),
                occurred_at=dt.datetime.fromisoformat(late["occurred_at"]),
            )
            [result] = await EventStore(pool).append(
                slow,
                tenant.programme_id,
                [StreamAppend(stream_id=stream_id, kind="participant", expected_version=version, events=[event])],
                Metadata(programme_id=tenant.programme_id),
            )
            yield result.global_position
            await held.commit()
        except BaseException:
            await held.rollback()
            raise


async def _two_participants(api: Api, tenant: Tenant, worker_pool: asyncpg.Pool) -> tuple[str, str, str]:
    """A contact, and two participants of whom the first has one outreach, in the read model."""
    contact = await api.new_contact()
    slow_participant = await api.new_participant(tenant.counselor_id)
    quick_participant = await api.new_participant(tenant.counselor_id)
    assert (await api.record("participant", slow_participant, _outreach(contact))).status_code == 201
    await _project(worker_pool)
    return contact, slow_participant, quick_participant


async def test_a_report_asked_again_by_its_position_is_unchanged_by_an_append_that_commits_late_below_it(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    contact, slow_participant, quick_participant = await _two_participants(api, tenant, worker_pool)
    async with _slow_append(pool, tenant, slow_participant, contact) as slow_position:
        # A quicker append after it commits first, and the worker applies what it can.
        assert (await api.record("participant", quick_participant, _outreach(contact))).status_code == 201
        await _project(worker_pool, settle_seconds=0.5)  # the held transaction holds the horizon back
        report, dashboard = await _answers(api)
        # The dangerous case: the answered position covers the append still in flight.
        assert report["global_position"] >= slow_position
        assert dashboard["global_position"] >= slow_position

    await _project(worker_pool)
    again_report, again_dashboard = await _answers(api, f"&as_of_position={report['global_position']}")
    assert report["global_position"] == dashboard["global_position"]
    assert again_report == report  # figures, position and hash
    assert again_dashboard == dashboard
    # The late outreach is in the read model and in a fresh answer: the equality above is not for want of it.
    fresh_report, fresh_dashboard = await _answers(api)
    assert fresh_dashboard["overall"]["sent"]["value"] == 3  # every outreach, the late one too
    assert fresh_report["figures"] != report["figures"]


async def test_a_kept_monthly_report_is_answered_again_by_its_position_after_a_late_commit_below_it(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant
) -> None:
    contact, slow_participant, quick_participant = await _two_participants(api, tenant, worker_pool)
    async with _slow_append(pool, tenant, slow_participant, contact) as slow_position:
        assert (await api.record("participant", quick_participant, _outreach(contact))).status_code == 201
        await _project(worker_pool, settle_seconds=0.5)
        assert await keep_monthly_reports(worker_pool, dt.date(2026, 7, 3)) == 1
    await _project(worker_pool)
    kept = (await api.get("/v1/reports/monthly/2026-06-30")).json()
    assert kept["global_position"] >= slow_position
    live = (await api.get(f"{REPORT}&as_of_position={kept['global_position']}")).json()
    assert live == kept
    # The horizon is kept beside the position, and it is the one pinned for it.
    horizons = await owner.fetchrow(
        """SELECT k.horizon AS kept, p.horizon AS pinned FROM kept_reports k
           JOIN report_positions p ON p.programme_id = k.programme_id AND p.position = k.global_position
           WHERE k.programme_id = $1 AND k.audience = 'staff'""",
        tenant.programme_id,
    )
    assert horizons is not None and horizons["kept"] == horizons["pinned"]


async def test_the_first_pin_of_a_position_wins_and_a_position_not_settled_is_refused(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    await api.new_participant(tenant.counselor_id)
    await _project(worker_pool)
    async with tenant_connection(pool, tenant.programme_id) as conn:
        latest = await report_position(conn, None, [read_models.NAME])
        assert await report_position(conn, latest.position, [read_models.NAME]) == latest
        # A position below the latest, never answered, is pinned when first asked for, and kept.
        earlier = await report_position(conn, latest.position - 1, [read_models.NAME])
        assert earlier.position == latest.position - 1
        assert await report_position(conn, earlier.position, [read_models.NAME]) == earlier
        with pytest.raises(PositionNotReached):
            await report_position(conn, latest.position + 1, [read_models.NAME])
    negative = await api.get(f"{REPORT}&as_of_position=-1")
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "as_of_position"


async def test_report_positions_are_pinned_per_programme(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant, other_tenant: Tenant
) -> None:
    await api.new_participant(tenant.counselor_id)
    await _project(worker_pool)
    async with tenant_connection(pool, tenant.programme_id) as conn:
        mine = await report_position(conn, None, [read_models.NAME])
        assert mine.position > 0
    async with tenant_connection(pool, other_tenant.programme_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM report_positions") == 0  # row-level security
        # Its own events settle its positions: it has none yet.
        assert (await report_position(conn, None, [read_models.NAME])).position == 0
        with pytest.raises(PositionNotReached):
            await report_position(conn, mine.position, [read_models.NAME])
        assert await conn.fetchval("SELECT count(*) FROM report_positions") == 1
