"""The typed read models: built incrementally in any batch sizes they equal a build from scratch, and read
back they are exactly the facts the pure fold makes from the same events."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import time
import uuid
import zoneinfo
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.reporting.facts import Contact, Facts, fact_from_event, facts_from_events
from domain.reporting.response_rates import response_rates
from domain.reporting.scope import ReportParams
from domain.reporting.snapshot import attempt_numbers
from infra.accounts import create_programme, create_user
from infra.db import tenant_connection
from infra.event_store import Cursor, EventStore, Metadata, RecordedEvent
from projections import read_models
from projections.response_rate_queries import response_rates_at
from projections.runner import catch_up, envelope_of
from services.recording import Recorder
from tests.generators import programme_log, reassigned_and_removed
from tests.support import incoming, subject_keys

POSITION_COLUMNS = ("position", "tx", "occurred_at", "voided_at", "voided_position", "voided_tx")


async def rows_of(pool: asyncpg.Pool, prefix: str, programme_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """One programme's rows of every read-model table (the change marks and tallies too), comparable across
    prefixes: in one order, and without the dashboard's day tallies of nothing (a count taken back to 0 means
    what no row means)."""
    return {
        table: [
            tuple(row.values())
            for row in await pool.fetch(
                f"SELECT * FROM {prefix}{table} t WHERE programme_id = $1"
                + (" AND sent <> 0" if table == "rm_dashboard_days" else "")
                + " ORDER BY t::text",
                programme_id,
            )
        ]
        for table in read_models.ReadModelsProjection.tables
    }


async def scratch_tables(owner: asyncpg.Connection, schema: str) -> str:
    """Empty copies of the read-model tables in ``schema``, writable by the worker; the prefix naming them."""
    await owner.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await owner.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO peoplelinks_worker')
    for table in read_models.ReadModelsProjection.tables:
        await owner.execute(f'CREATE TABLE IF NOT EXISTS "{schema}"."{table}" (LIKE public."{table}" INCLUDING ALL)')
        await owner.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{schema}"."{table}" TO peoplelinks_worker')
    return f"{schema}."


async def every_event(store: EventStore, within: float = 30.0) -> list[RecordedEvent]:
    """Every stored event in store order, once the horizon has passed them all.

    A transaction open elsewhere in the cluster (another test's) holds the horizon back for a moment.
    """
    stored = await store.pool.fetchval("SELECT count(*) FROM events")
    cursor, everything = Cursor(), []
    deadline = time.monotonic() + within
    while len(everything) < stored:
        batch = await store.read_all(cursor, limit=5000)
        if not batch:
            assert time.monotonic() < deadline, f"read {len(everything)} of {stored} events"
            await asyncio.sleep(0.01)
            continue
        everything += batch
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    return everything


async def assert_live_equals_a_build_from_scratch(
    worker_pool: asyncpg.Pool, owner: asyncpg.Connection, programme_id: uuid.UUID, schema: str = "scratch"
) -> None:
    """A programme's live read models hold rows, and exactly the rows a build from position 0 into ``schema`` makes.

    Give each comparison in one database a ``schema`` of its own: the scratch tables are filled, never emptied.
    """
    scratch = await scratch_tables(owner, schema)
    await apply_all(worker_pool, await every_event(EventStore(worker_pool)), scratch)
    live = await rows_of(worker_pool, read_models.LIVE_PREFIX, programme_id)
    assert all(live[table] for table in ("rm_participants", "rm_outreach", "rm_responses"))
    assert live == await rows_of(worker_pool, scratch, programme_id)


Tallies = tuple[dict[tuple[str, dt.date, str], int], set[tuple[Any, ...]]]


def expected_dashboard_tallies(facts: Facts, zone: dt.tzinfo, through: uuid.UUID | None = None) -> Tallies:
    """What the dashboard tallies hold: the live units (outreach not voided, of a participant whose enrolment is
    not), with the participant's live counselor and cohort, counted a day in ``zone`` once a dimension (sent
    counts), and each answered one's earliest live response (and the days to it) and earliest live positive one.
    With ``through``, of the participants whose id is at or before it only (a programme being counted)."""
    expected_days: collections.Counter[tuple[str, dt.date, str]] = collections.Counter()
    expected_replies = set()
    for participant_id, bundle in facts.participants.items():
        enrolment = bundle.enrolment
        if enrolment is None or enrolment.voided_at is not None:
            continue
        if through is not None and participant_id > through:
            continue
        assigned = max(
            (a for a in bundle.counselor_assignments if a.voided_at is None),
            key=lambda a: (a.occurred_at, a.position),
            default=None,
        )
        counselor = enrolment.counselor_id if assigned is None else assigned.counselor_id
        numbers = attempt_numbers(bundle.outreaches)
        for o in bundle.outreaches:
            if o.voided_at is not None:
                continue
            day = o.occurred_at.astimezone(zone).date()
            for dim, key in (
                ("all", ""),
                ("channel", o.channel),
                ("purpose", o.purpose),
                ("attempt", str(numbers[o.outreach_id.int])),
                ("counselor", str(counselor)),
                ("cohort", enrolment.cohort or "unknown"),
            ):
                expected_days[dim, day, key] += 1
            replies = [r for r in bundle.responses if r.outreach_id == o.outreach_id and r.voided_at is None]
            if replies:
                first = min(r.occurred_at for r in replies)
                expected_replies.add(
                    (
                        participant_id,
                        o.outreach_id,
                        first,
                        (first - o.occurred_at) / dt.timedelta(days=1),
                        min((r.occurred_at for r in replies if r.outcome == "positive"), default=None),
                        str(counselor),
                    )
                )
    return dict(expected_days), expected_replies


async def dashboard_tallies_of(pool: asyncpg.Pool, prefix: str, programme_id: uuid.UUID) -> Tallies:
    """The dashboard tallies a programme's tables hold, as ``expected_dashboard_tallies`` gives them."""
    days_sql = "SELECT dim, day, key, sent FROM {}rm_dashboard_days WHERE programme_id = $1 AND sent <> 0"
    days = {
        (row["dim"], row["day"], row["key"]): row["sent"]
        for row in await pool.fetch(days_sql.format(prefix), programme_id)
    }
    replies_sql = (
        "SELECT participant_id, outreach_id, first_at, days, first_positive_at, counselor_id::text"
        " FROM {}rm_dashboard_replies WHERE programme_id = $1"
    )
    rows = await pool.fetch(replies_sql.format(prefix), programme_id)
    return days, {tuple(row.values()) for row in rows}


async def new_programme(owner: asyncpg.Connection) -> tuple[uuid.UUID, list[str]]:
    programme_id, admin = await create_programme(
        owner, name="Prop", admin_email=f"p{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    counselor = await create_user(
        owner, programme_id=programme_id, email=f"c{uuid.uuid4().hex}@x.org", role="counselor", password="x" * 12
    )
    return programme_id, [str(counselor), str(admin)]


async def apply_all(pool: asyncpg.Pool, events: Sequence[RecordedEvent], prefix: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await read_models.ReadModelsProjection().apply(conn, events, prefix)


# The fixtures (one database) are shared by every example on purpose: each example is its own programme.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), chunks=st.integers(1, 6), batch_size=st.integers(1, 40))
async def test_read_models_kept_in_any_batches_equal_a_build_from_scratch_and_the_pure_fold(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, seed: int, chunks: int, batch_size: int
) -> None:
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    scratch = await scratch_tables(owner, "scratch")
    rng = random.Random(seed)
    programme_id, staff = await new_programme(owner)
    log = reassigned_and_removed(rng, programme_log(rng, staff, participants=rng.randint(1, 6)), staff)
    cut = sorted(rng.sample(range(1, len(log)), min(chunks - 1, len(log) - 1)))
    for start, end in zip([0, *cut], [*cut, len(log)], strict=True):
        await recorder.record(
            programme_id, [incoming(line) for line in log[start:end]], Metadata(programme_id=programme_id)
        )
        await catch_up(store, projection, table=read_models.LIVE_PREFIX, batch_size=batch_size, settle_seconds=30)
    everything = await every_event(store)
    await apply_all(worker_pool, everything, scratch)
    live = await rows_of(worker_pool, "", programme_id)
    assert live == await rows_of(worker_pool, scratch, programme_id)
    assert sum(map(len, live.values())) > 0
    # The change marks: for each participant and each contact, the highest position and tx of the events of
    # their stream that make or void a record (a contact's creation aside); in whatever batches they were applied.
    mine = [e for e in everything if e.programme_id == programme_id]
    expected_marks: dict[uuid.UUID, tuple[int, int]] = {}
    for event in mine:
        kind, _, raw_id = event.stream_id.partition("-")
        fact = fact_from_event(envelope_of(event))
        if kind in ("participant", "contact") and fact is not None and not isinstance(fact, Contact):
            subject = uuid.UUID(raw_id)
            position, tx = expected_marks.get(subject, (0, 0))
            expected_marks[subject] = (max(position, event.global_position), max(tx, event.tx_id))
    marks_sql = "SELECT subject_id, position, tx FROM {}rm_change_marks WHERE programme_id = $1"
    for prefix in ("", scratch):
        marks = {
            row["subject_id"]: (row["position"], row["tx"])
            for row in await worker_pool.fetch(marks_sql.format(prefix), programme_id)
        }
        assert marks == expected_marks
    # Read back, the rows are exactly the facts the pure fold makes from the same events.
    mine = [e for e in everything if e.programme_id == programme_id]
    expected = facts_from_events(envelope_of(e) for e in mine)
    # The outreach tallies: each participant's live outreach, and those of them with a live response, counted
    # from the pure fold's records; in whatever batches they were applied (a participant with no outreach
    # has no tally, or a tally of nothing).
    expected_tallies = {}
    for participant_id, bundle in expected.participants.items():
        live = [o for o in bundle.outreaches if o.voided_at is None]
        answered = {r.outreach_id for r in bundle.responses if r.voided_at is None}
        expected_tallies[participant_id] = (len(live), sum(o.outreach_id in answered for o in live))
    tallies_sql = "SELECT participant_id, sent, answered FROM {}rm_outreach_tallies WHERE programme_id = $1"
    for prefix in ("", scratch):
        tallies = {
            row["participant_id"]: (row["sent"], row["answered"])
            for row in await worker_pool.fetch(tallies_sql.format(prefix), programme_id)
        }
        assert {p: t for p, t in tallies.items() if t != (0, 0)} == {
            p: t for p, t in expected_tallies.items() if t != (0, 0)
        }
    # The dashboard tallies, from the pure fold's records; in whatever batches they were applied.
    expected_days, expected_replies = expected_dashboard_tallies(expected, dt.UTC)
    for prefix in ("", scratch):
        assert await dashboard_tallies_of(worker_pool, prefix, programme_id) == (expected_days, expected_replies)
    assert await read_models.load_facts_of(worker_pool, programme_id, None) == expected
    assert await read_models.load_facts_of(worker_pool, programme_id, None, scratch) == expected
    # Each row carries the tx of the event that made it, and of the void that marked it.
    tx_of = {e.event_id: e.tx_id for e in mine}
    void_tx = {uuid.UUID(e.data["voided_event_id"]): e.tx_id for e in reversed(mine) if e.type == "entry_voided"}
    for table in read_models.TABLES:
        for row in await worker_pool.fetch(
            f"SELECT event_id, tx, voided_at, voided_tx FROM {table} WHERE programme_id = $1", programme_id
        ):
            assert row["tx"] == tx_of[row["event_id"]]
            assert row["voided_tx"] == (void_tx[row["event_id"]] if row["voided_at"] is not None else None)
    # Attempts and thread roots follow follow_up_of over every outreach, voided or not; a follow-up dated before
    # its parent is marked so.
    for participant_id, bundle in expected.participants.items():
        attempts = attempt_numbers(bundle.outreaches)
        rows = await worker_pool.fetch(
            "SELECT outreach_id, follow_up_of, attempt, thread_root, dated_before_parent, occurred_at FROM rm_outreach"
            " WHERE programme_id = $1 AND participant_id = $2",
            programme_id,
            participant_id,
        )
        by_id = {row["outreach_id"]: row for row in rows}
        for row in rows:
            assert row["attempt"] == attempts[row["outreach_id"].int]
            parent = row["follow_up_of"]
            expected_root = row["outreach_id"] if parent is None else by_id[parent]["thread_root"]
            assert row["thread_root"] == expected_root
            early = parent is not None and row["occurred_at"] < by_id[parent]["occurred_at"]
            assert row["dated_before_parent"] == early


async def test_applying_a_batch_again_changes_nothing(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    programme_id, staff = await new_programme(owner)
    log = programme_log(random.Random(11), staff, participants=8)
    assert any(line["type"] == "entry_voided" for line in log)
    await recorder.record(programme_id, [incoming(line) for line in log], Metadata(programme_id=programme_id))
    everything = await every_event(EventStore(worker_pool))
    await apply_all(worker_pool, everything, "")
    once = await rows_of(worker_pool, "", programme_id)
    await apply_all(worker_pool, everything, "")
    await apply_all(worker_pool, everything[len(everything) // 2 :], "")
    assert await rows_of(worker_pool, "", programme_id) == once
    # Some voided_at (the row tables' third column from the end; the change marks have none).
    assert any(row[-3] is not None for table in read_models.TABLES for row in once[table])


async def test_facts_of_some_participants_hold_them_alone_with_the_contacts_they_name(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    programme_id, staff = await new_programme(owner)
    log = programme_log(random.Random(5), staff, participants=5)
    await recorder.record(programme_id, [incoming(line) for line in log], Metadata(programme_id=programme_id))
    await apply_all(worker_pool, await every_event(EventStore(worker_pool)), "")
    whole = await read_models.load_facts_of(worker_pool, programme_id, None)
    chosen = sorted(whole.participants)[:2]
    some = await read_models.load_facts_of(worker_pool, programme_id, chosen)
    assert sorted(some.participants) == chosen
    assert all(some.participants[p] == whole.participants[p] for p in chosen)
    named = {
        contact_id
        for p in chosen
        for record in (
            *whole.participants[p].outreaches,
            *whole.participants[p].meetings,
            *whole.participants[p].relationships,
            *whole.participants[p].referrals,
        )
        for contact_id in (record.contact_id, getattr(record, "to_contact_id", None))
        if contact_id is not None
    } | {hire.via_contact_id for p in chosen for hire in whole.participants[p].hires if hire.via_contact_id}
    assert named and set(some.contacts) == named & set(whole.contacts)
    assert set(whole.contacts) - named  # the others' contacts stay out
    assert some.contacts == {c: whole.contacts[c] for c in some.contacts}
    assert some.contact_employers == {c: v for c, v in whole.contact_employers.items() if c in named}


async def test_every_table_has_the_columns_of_its_record_and_the_position_columns(worker_pool: asyncpg.Pool) -> None:
    for kind in read_models.KINDS:
        columns = [
            row["column_name"]
            for row in await worker_pool.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                kind.table,
            )
        ]
        extra = ("attempt", "thread_root") if kind.table == "rm_outreach" else ()
        # Columns added later (migration 0024) come last.
        added = ("dated_before_parent",) if kind.table == "rm_outreach" else ()
        assert columns == ["programme_id", "event_id", *kind.fields, *extra, *POSITION_COLUMNS, *added]
        inserted = ["programme_id", "event_id", *kind.fields, *extra, *added, *POSITION_COLUMNS[:3]]
        insert = read_models.queries()[f"insert_{kind.key}"]
        assert f"({', '.join(inserted)})" in insert


async def test_a_programme_whose_zone_changes_is_counted_again_in_its_zone_some_participants_a_step(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's days are local to the programme's zone: after the zone changes, the worker counts the
    programme again in the new zone, RECOUNT_CHUNK participants (in the order of their ids) a batch and a chunk
    more whenever it finds nothing to apply. Meanwhile the tallies hold the units of the participants counted so
    far and of nobody else, whatever events come for participants on either side of the mark, and the dashboard
    is computed from the rows (projections/response_rate_queries.py)."""
    monkeypatch.setattr(read_models, "RECOUNT_CHUNK", 2)
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    programme_id, staff = await new_programme(owner)
    log = programme_log(random.Random(12), staff, participants=8)
    await recorder.record(programme_id, [incoming(line) for line in log], Metadata(programme_id=programme_id))
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    facts = facts_from_events(envelope_of(e) for e in await every_event(store) if e.programme_id == programme_id)
    utc = expected_dashboard_tallies(facts, dt.UTC)
    assert utc[0] and utc[1]
    assert await dashboard_tallies_of(worker_pool, "", programme_id) == utc
    # Fourteen hours ahead of UTC: most outreach of the afternoon fall on the next day.
    zone = zoneinfo.ZoneInfo("Pacific/Kiritimati")
    await owner.execute("UPDATE programmes SET time_zone = $1 WHERE programme_id = $2", zone.key, programme_id)
    contact = {"stream_id": f"contact-{uuid.uuid4()}", "type": "contact_added", "data": {"name": "C"}}
    line = {**contact, "event_id": str(uuid.uuid4()), "occurred_at": "2025-06-01T12:00:00+00:00"}
    await recorder.record(programme_id, [incoming(line)], Metadata(programme_id=programme_id))
    # One batch (its chunk) and, finding nothing more, one idle step (another chunk): four of the eight counted.
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    counted = "SELECT time_zone, counted_through FROM rm_dashboard_zones WHERE programme_id = $1"
    kept_zone, through = await worker_pool.fetchrow(counted, programme_id)

    async def counted_through() -> uuid.UUID | None:
        row = await worker_pool.fetchrow(counted, programme_id)
        assert row is not None
        return row["counted_through"]  # type: ignore[no-any-return]

    everyone = sorted(facts.participants)
    assert (kept_zone, through) == (zone.key, everyone[3])
    assert await dashboard_tallies_of(worker_pool, "", programme_id) == expected_dashboard_tallies(facts, zone, through)
    # While it is counted, the dashboard is read from the rows: the tallies hold half the participants.
    params = ReportParams(
        from_date=dt.date(2024, 1, 1), to_date=dt.date(2027, 1, 1), as_of=dt.date(2027, 1, 1), time_zone=zone
    )
    async with tenant_connection(pool, programme_id) as conn:
        assert await response_rates_at(conn, programme_id, params, None) == response_rates(facts, params)
    # Two enrolments voided in one batch, which first counts two more (through the sixth): the sixth's units go
    # now, the seventh's, not counted yet, stay out (its chunk will find none).
    last = max(dt.datetime.fromisoformat(line["occurred_at"]) for line in log)
    enrolments = {line["stream_id"]: line for line in log if line["type"] == "participant_enrolled"}
    voids = [
        {
            "stream_id": f"participant-{participant_id}",
            "type": "entry_voided",
            "event_id": str(uuid.uuid4()),
            "occurred_at": (last + dt.timedelta(hours=1)).isoformat(),
            "data": {"voided_event_id": enrolments[f"participant-{participant_id}"]["event_id"], "reason": "mistake"},
        }
        for participant_id in everyone[5:7]
    ]
    await recorder.record(programme_id, [incoming(void) for void in voids], Metadata(programme_id=programme_id))
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    facts = facts_from_events(envelope_of(e) for e in await every_event(store) if e.programme_id == programme_id)
    through = await counted_through()
    assert through == everyone[7]  # and the idle step two more
    assert await dashboard_tallies_of(worker_pool, "", programme_id) == expected_dashboard_tallies(facts, zone, through)
    while through is not None:  # each catch-up, finding nothing to apply, counts one chunk more
        await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
        through = await counted_through()
    kiritimati = expected_dashboard_tallies(facts, zone)
    assert kiritimati != utc
    assert await dashboard_tallies_of(worker_pool, "", programme_id) == kiritimati
