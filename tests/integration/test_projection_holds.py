"""An event a projection cannot apply holds back its own programme only, says so, and has a way out."""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Sequence

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from infra.db import Connection, tenant_connection
from infra.event_store import EventStore, Metadata, NewEvent, RecordedEvent, StreamAppend
from projections import read_models, runner
from projections.holds import holds, release_holds, skip_event
from projections.rebuild import rebuild
from projections.runner import catch_up, projection_status
from services.recording import Recorder
from tests.generators import programme_log
from tests.integration.test_read_models import new_programme
from tests.support import Api, Tenant, incoming, subject_keys

YEAR_ONE = dt.datetime(1, 1, 1, tzinfo=dt.UTC)


async def _append(pool: asyncpg.Pool, programme_id: uuid.UUID, stream_id: str, version: int, event: NewEvent) -> None:
    """Store one event as the store would, bypassing the recording rules (as an older release let it through)."""
    async with tenant_connection(pool, programme_id) as conn:
        await EventStore(pool).append(
            conn,
            programme_id,
            [StreamAppend(stream_id=stream_id, kind="participant", expected_version=version, events=[event])],
            Metadata(programme_id=programme_id),
        )


def _event(type_: str, data: dict[str, object], occurred_at: dt.datetime) -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), type=type_, data=msgspec.json.encode(data), occurred_at=occurred_at)


def _enrolment(counselor_id: uuid.UUID) -> NewEvent:
    data = {"enrolled_on": "2026-03-01", "counselor_id": str(counselor_id), "profile": {"display_name": "P"}}
    return _event("participant_enrolled", data, dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC))


async def _participant_rows(worker_pool: asyncpg.Pool, programme_id: uuid.UUID) -> int:
    return int(await worker_pool.fetchval("SELECT count(*) FROM rm_participants WHERE programme_id = $1", programme_id))


async def _record_kinds(worker_pool: asyncpg.Pool, programme_id: uuid.UUID) -> list[str]:
    """The kind of every read-model row of one programme, in store order."""
    rows = [
        (row["position"], kind.record.__name__)
        for kind in read_models.KINDS
        for row in await worker_pool.fetch(f"SELECT position FROM {kind.table} WHERE programme_id = $1", programme_id)
    ]
    return [name for _, name in sorted(rows)]


class _Setup(msgspec.Struct, kw_only=True):
    bad: NewEvent
    bad_stream: str


async def _store_with_a_bad_event(pool: asyncpg.Pool, tenant: Tenant, other: Tenant) -> _Setup:
    """Programme A: a participant, the year-1 event, then another participant; programme B: a participant after it."""
    await _append(pool, tenant.programme_id, f"participant-{uuid.uuid4()}", 0, _enrolment(tenant.counselor_id))
    bad_stream = f"participant-{uuid.uuid4()}"
    await _append(pool, tenant.programme_id, bad_stream, 0, _enrolment(tenant.counselor_id))
    bad = _event("job_search_objective_set", {"target_titles": ["t"]}, YEAR_ONE)
    await _append(pool, tenant.programme_id, bad_stream, 1, bad)
    await _append(pool, tenant.programme_id, f"participant-{uuid.uuid4()}", 0, _enrolment(tenant.counselor_id))
    await _append(pool, other.programme_id, f"participant-{uuid.uuid4()}", 0, _enrolment(other.counselor_id))
    return _Setup(bad=bad, bad_stream=bad_stream)


async def test_an_event_the_projection_cannot_apply_holds_only_its_programme(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant, other_tenant: Tenant
) -> None:
    setup = await _store_with_a_bad_event(pool, tenant, other_tenant)
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()

    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=5)

    # The other programme is not held back; the held one has what came before the bad event, not what came after.
    assert await _participant_rows(worker_pool, other_tenant.programme_id) == 1
    assert await _participant_rows(worker_pool, tenant.programme_id) == 2
    [hold] = await holds(worker_pool)
    assert (hold.programme_id, hold.event_id) == (tenant.programme_id, setup.bad.event_id)
    assert hold.error.startswith("ValueError: occurred_at must carry an offset")

    async with tenant_connection(pool, tenant.programme_id) as conn:
        head, [status] = await projection_status(conn, [read_models.NAME])
        bad_position = await conn.fetchval("SELECT global_position FROM events WHERE event_id = $1", setup.bad.event_id)
    assert [h.event_id for h in status.held] == [setup.bad.event_id]
    assert status.checkpoint == bad_position - 1 < head
    assert status.lag == 2  # the bad event and the enrolment after it
    async with tenant_connection(pool, other_tenant.programme_id) as conn:
        other_head, [other_status] = await projection_status(conn, [read_models.NAME])
    assert other_status.held == []  # row-level security: another programme's hold is not even visible
    assert other_status.checkpoint == other_head


async def test_a_hold_is_logged_once_however_often_it_is_retried(
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,
    other_tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _store_with_a_bad_event(pool, tenant, other_tenant)
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    with caplog.at_level(logging.WARNING, logger="peoplelinks.projections"):
        # The first pass settles: until the horizon passes the bad event (a transaction open elsewhere in the
        # cluster may hold it back), there is nothing to hold yet.
        await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
        for _ in range(5):
            assert await release_holds(store, projection, table=read_models.LIVE_PREFIX) == 0
            await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "job_search_objective_set" not in errors[0].getMessage()  # names position, event id and error type
    [hold] = await holds(worker_pool)
    assert hold.attempts == 6  # held once, then five failed releases, each counted


async def test_skipping_the_event_releases_the_programme_and_keeps_the_store(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, other_tenant: Tenant
) -> None:
    setup = await _store_with_a_bad_event(pool, tenant, other_tenant)
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=5)
    events_before = await owner.fetchval("SELECT count(*) FROM events")

    assert await skip_event(owner, tenant.programme_id, setup.bad.event_id, reason="year 1", skipped_by="ops")
    assert await release_holds(store, projection, table=read_models.LIVE_PREFIX) == 1

    assert await holds(worker_pool) == []
    assert await _participant_rows(worker_pool, tenant.programme_id) == 3
    assert await owner.fetchval("SELECT count(*) FROM events") == events_before
    async with tenant_connection(pool, tenant.programme_id) as conn:
        head, [status] = await projection_status(conn, [read_models.NAME])
    assert (status.checkpoint, status.lag, status.held) == (head, 0, [])


class _FailsOn:
    """The read-models projection with a bug for one event type, until the bug is fixed."""

    name = read_models.NAME
    tables = read_models.TABLES

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        self.broken = True
        self.inner = read_models.ReadModelsProjection()

    async def apply(self, conn: Connection, events: Sequence[RecordedEvent], table: str) -> None:
        if self.broken and any(e.type == self.event_type for e in events):
            raise KeyError(self.event_type)
        await self.inner.apply(conn, events, table)

    def prepare(self, events: Sequence[RecordedEvent]) -> None:
        self.inner.prepare(events)

    async def idle(self, conn: Connection, table: str) -> None:
        await self.inner.idle(conn, table)


async def test_a_fixed_projection_catches_the_held_programme_up_in_order(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant, other_tenant: Tenant
) -> None:
    stream = f"participant-{uuid.uuid4()}"
    await _append(pool, tenant.programme_id, stream, 0, _enrolment(tenant.counselor_id))
    exit_ = _event(
        "participant_exited", {"exited_on": "2026-04-01", "reason": "moved"}, dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    )
    await _append(pool, tenant.programme_id, stream, 1, exit_)
    await _append(pool, tenant.programme_id, f"participant-{uuid.uuid4()}", 0, _enrolment(tenant.counselor_id))
    store = EventStore(worker_pool)
    projection = _FailsOn("participant_exited")

    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=5)
    assert [h.event_id for h in await holds(worker_pool)] == [exit_.event_id]
    assert await release_holds(store, projection, table=read_models.LIVE_PREFIX) == 0  # still broken: stays held

    projection.broken = False  # a new worker release
    await _append(
        pool, other_tenant.programme_id, f"participant-{uuid.uuid4()}", 0, _enrolment(other_tenant.counselor_id)
    )
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=5)
    assert await release_holds(store, projection, table=read_models.LIVE_PREFIX) == 1

    assert await holds(worker_pool) == []
    assert await _record_kinds(worker_pool, tenant.programme_id) == ["Participant", "Exit", "Participant"]
    assert await _participant_rows(worker_pool, other_tenant.programme_id) == 1


async def test_readiness_and_projections_say_which_event_holds_a_programme(
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,
    other_tenant: Tenant,
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    ready = await client.get("/health/ready")
    assert (ready.status_code, ready.json()["status"], ready.json()["held"]) == (200, "ready", [])
    setup = await _store_with_a_bad_event(pool, tenant, other_tenant)
    await catch_up(
        EventStore(worker_pool), read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30
    )

    ready = await client.get("/health/ready")
    assert ready.status_code == 200  # the other programmes are served
    body = ready.json()
    assert body["status"] == "degraded"
    assert [(h["name"], h["programmes"], h["errors"]) for h in body["held"]] == [(read_models.NAME, 1, ["ValueError"])]
    assert str(tenant.programme_id) not in ready.text and str(setup.bad.event_id) not in ready.text

    api = await Api.login(client, tenant.admin_email, tenant.password)
    [status] = [p for p in (await api.get("/v1/projections")).json()["projections"] if p["name"] == read_models.NAME]
    [held] = status["held"]
    assert held["event_id"] == str(setup.bad.event_id)
    assert held["error"].startswith("ValueError")
    other = await Api.login(client, other_tenant.admin_email, other_tenant.password)
    [status] = [p for p in (await other.get("/v1/projections")).json()["projections"] if p["name"] == read_models.NAME]
    assert (status["held"], status["lag"]) == ([], 0)


async def test_a_rebuild_passes_the_bad_event_and_its_hold_becomes_the_live_one(
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    owner: asyncpg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    setup = await _store_with_a_bad_event(pool, tenant, other_tenant)
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=5)

    await rebuild(owner, store, projection, live_table=read_models.LIVE_PREFIX)

    assert [(h.name, h.event_id) for h in await holds(worker_pool)] == [(read_models.NAME, setup.bad.event_id)]
    assert await _participant_rows(worker_pool, tenant.programme_id) == 2
    assert await _participant_rows(worker_pool, other_tenant.programme_id) == 1
    await skip_event(owner, tenant.programme_id, setup.bad.event_id, reason="year 1", skipped_by="ops")
    assert await release_holds(store, projection, table=read_models.LIVE_PREFIX) == 1
    assert await _participant_rows(worker_pool, tenant.programme_id) == 3


async def test_the_lag_walked_along_the_index_agrees_with_the_full_count_past_its_limit(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PENDING_COUNTED pending events the status aggregates them all: the same checkpoint and lag as a
    walk that is not cut short."""
    programme_id, staff = await new_programme(owner)
    store = EventStore(worker_pool)
    await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
    log = programme_log(random.Random(3), staff, participants=2)
    await Recorder(EventStore(pool), keys=subject_keys()).record(
        programme_id, [incoming(line) for line in log], Metadata(programme_id=programme_id)
    )
    walked = await runner.projection_status(worker_pool, [read_models.NAME])
    assert walked[1][0].lag >= len(log) > 3
    monkeypatch.setattr(runner, "PENDING_COUNTED", 3)
    assert await runner.projection_status(worker_pool, [read_models.NAME]) == walked
