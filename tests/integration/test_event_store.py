"""The event store against the real PostgreSQL: concurrency, idempotency, gap-free reading, immutability."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from infra import migrate as migrate_module
from infra.db import tenant_connection
from infra.event_store import EVENT_COLUMNS, ConcurrencyConflict, Cursor, EventStore, Metadata, NewEvent, StreamAppend
from infra.migrate import available_migrations, migrate
from infra.settings import Settings
from tests.support import Api, Tenant, envelope, new_id

T0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


def _events(n: int) -> list[NewEvent]:
    return [
        NewEvent(event_id=uuid.uuid4(), type="employer_updated", data=b'{"city":"Leeds"}', occurred_at=T0)
        for _ in range(n)
    ]


async def _append(store: EventStore, programme_id: uuid.UUID, stream_id: str, expected: int, n: int = 1) -> None:
    async with tenant_connection(store.pool, programme_id) as conn, conn.transaction():
        await store.append(
            conn,
            programme_id,
            [StreamAppend(stream_id=stream_id, kind="employer", expected_version=expected, events=_events(n))],
            Metadata(programme_id=programme_id),
        )


async def _read_everything(store: EventStore, cursor: Cursor | None = None) -> tuple[list[int], Cursor]:
    positions: list[int] = []
    cursor = cursor or Cursor()
    while batch := await store.read_all(cursor, limit=500):
        positions += [e.global_position for e in batch]
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    return positions, cursor


async def test_twenty_concurrent_appends_expecting_one_version_let_exactly_one_through(api: Api) -> None:
    employer = await api.new_employer()
    body = envelope("employer_updated", {"city": "Bristol"})
    answers = await asyncio.gather(*(api.record("employer", employer, body, **{"If-Match": "1"}) for _ in range(20)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 19
    stream = (await api.get(f"/v1/employers/{employer}/events")).json()
    assert stream["version"] == 2
    assert [e["type"] for e in stream["events"]] == ["employer_added", "employer_updated"]


async def test_without_if_match_concurrent_appends_all_land_in_order(api: Api) -> None:
    employer = await api.new_employer()
    answers = await asyncio.gather(
        *(api.record("employer", employer, envelope("employer_updated", {"city": f"City {i}"})) for i in range(10))
    )
    assert [a.status_code for a in answers] == [201] * 10
    stream = (await api.get(f"/v1/employers/{employer}/events")).json()
    assert [e["stream_version"] for e in stream["events"]] == list(range(1, 12))


async def test_a_retried_event_id_stores_one_event_and_answers_as_the_first_time(api: Api) -> None:
    employer = await api.new_employer()
    body = envelope("employer_updated", {"city": "York"}, event_id=new_id())
    first, *retries = await asyncio.gather(*(api.record("employer", employer, body) for _ in range(5)))
    assert first.status_code == 201
    assert all(r.status_code == 201 and r.json() == first.json() for r in retries)
    again = await api.record("employer", employer, body)
    assert again.json() == first.json()
    stream = (await api.get(f"/v1/employers/{employer}/events")).json()
    assert stream["version"] == 2


async def test_an_event_id_reused_with_other_content_is_a_conflict(api: Api) -> None:
    employer = await api.new_employer()
    event_id = new_id()
    assert (
        await api.record("employer", employer, envelope("employer_updated", {"city": "York"}, event_id=event_id))
    ).status_code == 201
    clash = await api.record("employer", employer, envelope("employer_updated", {"city": "Hull"}, event_id=event_id))
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "event_id"
    assert (await api.get(f"/v1/employers/{employer}/events")).json()["version"] == 2


async def test_another_programmes_stream_is_not_found(api: Api, client, other_tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    employer = await api.new_employer()
    stranger = await Api.login(client, other_tenant.admin_email, other_tenant.password)
    assert (await stranger.get(f"/v1/employers/{employer}/events")).status_code == 404
    # Naming it in an event of the other programme treats it as absent.
    participant = await stranger.new_participant(other_tenant.counselor_id)
    body = envelope(
        "application_submitted",
        {"application_id": new_id(), "employer_id": employer, "position": "Cook", "route": "online"},
    )
    refused = await stranger.record("participant", participant, body)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "data.employer_id"


async def test_a_body_over_the_size_limit_is_refused_with_413(api: Api, settings: Settings) -> None:
    employer = await api.new_employer()
    body = envelope("employer_updated", {"city": "x" * (settings.max_body_bytes + 10)})
    response = await api.record("employer", employer, body)
    assert response.status_code == 413
    assert (await api.get(f"/v1/employers/{employer}/events")).json()["version"] == 1


async def test_a_stale_expected_version_is_a_conflict_in_the_store(pool: asyncpg.Pool, tenant: Tenant) -> None:
    store = EventStore(pool)
    stream = f"employer-{uuid.uuid4()}"
    await _append(store, tenant.programme_id, stream, 0)
    await _append(store, tenant.programme_id, stream, 1)
    with pytest.raises(ConcurrencyConflict):
        await _append(store, tenant.programme_id, stream, 1)
    with pytest.raises(ConcurrencyConflict):
        await _append(store, tenant.programme_id, stream, 0)


async def test_reader_waits_for_a_transaction_that_commits_late(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    store, reader = EventStore(pool), EventStore(worker_pool)
    slow_stream, fast_stream = f"employer-{uuid.uuid4()}", f"employer-{uuid.uuid4()}"
    slow = await pool.acquire()
    await slow.execute("SELECT set_config('peoplelinks.programme_id', $1, false)", str(tenant.programme_id))
    try:
        transaction = slow.transaction()
        await transaction.start()
        # The slow transaction draws the lower position, then stays open.
        await store.append(
            slow,
            tenant.programme_id,
            [StreamAppend(stream_id=slow_stream, kind="employer", expected_version=0, events=_events(1))],
            Metadata(programme_id=tenant.programme_id),
        )
        for _ in range(5):
            await _append(store, tenant.programme_id, f"employer-{uuid.uuid4()}", 0)
        await _append(store, tenant.programme_id, fast_stream, 0)
        assert await worker_pool.fetchval("SELECT count(*) FROM events") == 6  # committed, but above the horizon
        seen, cursor = await _read_everything(reader)
        # Nothing at or after the open transaction's horizon is handed out.
        assert seen == []
        await transaction.commit()
    finally:
        await pool.release(slow)
    # Transaction ids are cluster-wide: another database's open transaction may hold the horizon a moment longer.
    seen = []
    for _ in range(500):
        more, cursor = await _read_everything(reader, cursor)
        seen += more
        if len(seen) >= 7:
            break
        await asyncio.sleep(0.01)
    assert len(seen) == 7
    assert sorted(seen) == seen  # committed transactions come out in (tx, position) order


async def test_a_reader_following_eight_writers_sees_every_event_once(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant
) -> None:
    store, following = EventStore(pool), EventStore(worker_pool)
    writers, per_writer, per_tx = 8, 1250, 25
    stop = asyncio.Event()
    seen: list[tuple[int, int]] = []

    async def writer() -> None:
        stream = f"employer-{uuid.uuid4()}"
        version = 0
        for _ in range(per_writer // per_tx):
            await _append(store, tenant.programme_id, stream, version, per_tx)
            version += per_tx

    async def reader() -> None:
        cursor = Cursor()
        while True:
            batch = await following.read_all(cursor, limit=300)
            seen.extend((e.tx_id, e.global_position) for e in batch)
            if batch:
                cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
            elif stop.is_set() and (len(seen) >= writers * per_writer or asyncio.get_running_loop().time() > give_up):
                return
            else:
                await asyncio.sleep(0.002)

    give_up = float("inf")
    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer() for _ in range(writers)))
    # Once writing stops the reader drains what is left (waiting out any foreign transaction holding the horizon).
    give_up = asyncio.get_running_loop().time() + 10
    stop.set()
    await reading
    positions = [p for _, p in seen]
    assert len(positions) == writers * per_writer == 10_000
    assert len(set(positions)) == len(positions)
    assert seen == sorted(seen)
    stored = await owner.fetchval("SELECT count(*) FROM events")
    assert stored == 10_000


async def test_the_application_role_cannot_change_or_remove_events(
    pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant
) -> None:
    store = EventStore(pool)
    await _append(store, tenant.programme_id, f"employer-{uuid.uuid4()}", 0)
    for statement in ("UPDATE events SET type = 'x'", "DELETE FROM events", "TRUNCATE events"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(statement)
        # The owner is refused too, by the triggers.
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="immutable"):
            await owner.execute(statement)
    assert await owner.fetchval("SELECT count(*) FROM events") == 1


async def test_the_migrated_schema_is_what_the_code_expects(owner: asyncpg.Connection) -> None:
    rows = await owner.fetch(
        """SELECT column_name, coalesce(domain_name, data_type) AS type FROM information_schema.columns
           WHERE table_name = 'events' AND table_schema = 'public'"""
    )
    assert {r["column_name"]: r["type"] for r in rows} == EVENT_COLUMNS
    applied = [r["version"] for r in await owner.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [m.version for m in available_migrations()]


async def test_migrating_from_two_processes_at_once_applies_each_migration_once(template_database: str) -> None:
    server = "postgresql://postgres@localhost:5432/postgres"
    name = f"plmig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = server.rsplit("/", 1)[0] + f"/{name}"
        first, second = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            applied = await asyncio.gather(migrate(first), migrate(second))
            assert sorted(len(a) for a in applied) == [0, len(available_migrations())]
            assert await first.fetchval("SELECT count(*) FROM schema_migrations") == len(available_migrations())
        finally:
            await first.close()
            await second.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_retiring_report_facts_drops_its_table_sequence_rebuild_checkpoint_and_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = "postgresql://postgres@localhost:5432/postgres"
    name = f"plmig_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(server.rsplit("/", 1)[0] + f"/{name}")
        try:
            everything = available_migrations()
            [retiring] = [m for m in everything if m.name == "0017_drop_report_facts.sql"]
            with monkeypatch.context() as patch:
                patch.setattr(migrate_module, "available_migrations", lambda: everything[: everything.index(retiring)])
                await migrate(conn)
            # What a live database has by then: the checkpoint and holds of both projections, a rebuild killed
            # mid-way (its fresh table's default still uses the sequence).
            for projection in ("report_facts", "read_models"):
                await conn.execute("INSERT INTO projection_checkpoints (name) VALUES ($1)", projection)
            for projection in ("report_facts", "report_facts@rebuild", "read_models"):
                await conn.execute(
                    """INSERT INTO projection_holds (name, programme_id, event_id, tx_id, position, error)
                       VALUES ($1, $2, $3, '1'::xid8, 1, 'ValueError: x')""",
                    projection,
                    uuid.uuid4(),
                    uuid.uuid4(),
                )
            await conn.execute("CREATE SCHEMA rebuild_report_facts")
            await conn.execute(
                "CREATE TABLE rebuild_report_facts.report_facts (LIKE public.report_facts INCLUDING ALL)"
            )

            assert retiring.name in await migrate(conn)

            for gone in ("report_facts", "report_facts_changes", "rebuild_report_facts.report_facts"):
                assert await conn.fetchval("SELECT to_regclass($1)", gone) is None, gone
            assert await conn.fetchval("SELECT to_regnamespace('rebuild_report_facts')") is None
            assert [r["name"] for r in await conn.fetch("SELECT name FROM projection_checkpoints")] == ["read_models"]
            assert [r["name"] for r in await conn.fetch("SELECT name FROM projection_holds")] == ["read_models"]
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
