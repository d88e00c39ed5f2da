"""Property: every read answered from the ``rm_*`` tables equals the pure function of ``domain.reporting``.

Generated programmes (voids, exits, reassignments, participants without a cohort,
late entries dated before what they follow up, dates moved across a year end)
are recorded through the Recorder in a few transactions, projected by the real
``read_models`` projection, and asked in random time zones, periods, ``as_of``
days and report positions (P, H): the SQL answer must be the pure function's over
the events that exist at (P, H). The fixtures (one database) are shared by every
example on purpose: each example is its own programme.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
import zoneinfo
from typing import Any

import asyncpg
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.reporting.facts import facts_from_events
from domain.reporting.follow_ups import FollowUpParams, follow_up_queue, queue_order
from domain.reporting.pipeline import participant_pipeline, programme_funnel
from domain.reporting.relationships import relationships, timeline
from domain.reporting.response_rates import GROUP_BYS, response_rates
from domain.reporting.scope import ReportParams
from domain.reporting.snapshot import ViewParams, counselor_as_of, enrolment_as_of, looking_from
from infra.accounts import create_programme, create_user
from infra.db import tenant_connection
from infra.event_store import Cursor, EventStore, Metadata, RecordedEvent
from projections import read_models
from projections.caseload_queries import caseload
from projections.follow_up_answers import stored_answers
from projections.funnel_queries import programme_funnel_at
from projections.participant_views import (
    follow_ups_at,
    pipeline_at,
    prepare_follow_ups,
    relationships_at,
    timeline_at,
)
from projections.response_rate_queries import response_rates_at
from projections.runner import catch_up, envelope_of
from services.recording import Recorder
from tests.generators import programme_log, reassigned_and_removed
from tests.support import incoming, subject_keys

ZONES = ("UTC", "America/Los_Angeles", "America/St_Johns", "Asia/Kolkata", "Pacific/Auckland", "Pacific/Kiritimati")
DATE_FIELDS = ("enrolled_on", "start_date", "verified_on", "promoted_on", "ended_on", "exited_on")
FAR_FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _at(line: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(line["occurred_at"])


def _moved(line: dict[str, Any], days: int, extra: dt.timedelta = dt.timedelta()) -> dict[str, Any]:
    data = dict(line["data"])
    for field in DATE_FIELDS:
        if field in data:
            data[field] = (dt.date.fromisoformat(data[field]) + dt.timedelta(days=days)).isoformat()
    at = _at(line) + dt.timedelta(days=days) + extra
    return {**line, "data": data, "occurred_at": at.isoformat()}


def _varied(rng: random.Random, log: list[dict[str, Any]], counselors: list[str]) -> list[dict[str, Any]]:
    """The generated log moved by some days (across a year end, often), with the variety the generator lacks."""
    shift = rng.randint(0, 400)
    varied: list[dict[str, Any]] = []
    for original in log:
        line = _moved(original, shift)
        if line["type"] == "participant_enrolled" and rng.random() < 0.3:
            line["data"] = {key: value for key, value in line["data"].items() if key != "cohort"}
        if line["type"] in ("outreach_sent", "meeting_held") and rng.random() < 0.2:
            # A late entry: recorded after what came later, dated days (and hours) earlier than it happened.
            line = {
                **line,
                "occurred_at": (
                    _at(line) - dt.timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 23))
                ).isoformat(),
            }
        varied.append(line)
        if line["type"] == "participant_enrolled" and rng.random() < 0.4:
            varied.append(
                {
                    "stream_id": line["stream_id"],
                    "type": "counselor_assigned",
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "occurred_at": (
                        _at(line) + dt.timedelta(days=rng.randint(0, 90), hours=rng.randint(0, 23))
                    ).isoformat(),
                    "data": {"counselor_id": rng.choice(counselors)},
                }
            )
    return varied + _voided_parents(rng, varied)


def _voided_parents(rng: random.Random, log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Voids, at the end of the log and dated anywhere after, of outreaches that a follow-up names."""
    voided = {line["data"]["voided_event_id"] for line in log if line["type"] == "entry_voided"}
    followed = {line["data"]["follow_up_of"] for line in log if "follow_up_of" in line["data"]}
    voids = []
    for line in log:
        if (
            line["type"] == "outreach_sent"
            and line["data"]["outreach_id"] in followed
            and line["event_id"] not in voided
        ) and rng.random() < 0.6:
            voids.append(
                {
                    "stream_id": line["stream_id"],
                    "type": "entry_voided",
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "occurred_at": (
                        _at(line) + dt.timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
                    ).isoformat(),
                    "data": {"voided_event_id": line["event_id"], "reason": "entered by mistake"},
                }
            )
    return voids


async def _record(
    pool: asyncpg.Pool, programme_id: uuid.UUID, log: list[dict[str, Any]], rng: random.Random, chunks: int
) -> None:
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: FAR_FUTURE)
    cut = sorted(rng.sample(range(1, len(log)), min(chunks - 1, len(log) - 1)))
    for start, end in zip([0, *cut], [*cut, len(log)], strict=True):
        await recorder.record(
            programme_id, [incoming(line) for line in log[start:end]], Metadata(programme_id=programme_id)
        )


async def _events_of(store: EventStore, programme_id: uuid.UUID) -> list[RecordedEvent]:
    cursor, mine = Cursor(), []
    while batch := await store.read_all(cursor, limit=5000):
        mine += [event for event in batch if event.programme_id == programme_id]
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    return mine


def _day(rng: random.Random, low: dt.date, high: dt.date) -> dt.date:
    return low + dt.timedelta(days=rng.randint(0, max(0, (high - low).days)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), chunks=st.integers(1, 5))
async def test_every_sql_answer_equals_the_pure_function(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, seed: int, chunks: int
) -> None:
    rng = random.Random(seed)
    programme_id, admin = await create_programme(
        owner, name="Prop", admin_email=f"p{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    counselors = [str(admin)] + [
        str(
            await create_user(
                owner,
                programme_id=programme_id,
                email=f"c{uuid.uuid4().hex}@x.org",
                role="counselor",
                password="x" * 12,
            )
        )
        for _ in range(2)
    ]
    # The worker counts the dashboard tallies in the programme's zone: most dashboards below ask in it.
    home_zone = rng.choice(ZONES)
    await owner.execute("UPDATE programmes SET time_zone = $1 WHERE programme_id = $2", home_zone, programme_id)
    log = _varied(rng, programme_log(rng, counselors, participants=rng.randint(1, 6)), counselors)
    log = reassigned_and_removed(rng, log, counselors)
    await _record(pool, programme_id, log, rng, chunks)
    store = EventStore(worker_pool)
    await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
    events = await _events_of(store, programme_id)
    positions = [event.global_position for event in events]
    horizons = sorted({int(event.tx_id) for event in events})
    dates = [event.occurred_at.date() for event in events]
    low, high = min(dates) - dt.timedelta(days=7), max(dates) + dt.timedelta(days=7)

    async with tenant_connection(pool, programme_id) as conn:
        for _ in range(3):
            zone = zoneinfo.ZoneInfo(home_zone if rng.random() < 0.7 else rng.choice(ZONES))
            # H: every transaction (huge), or below one of the transactions that recorded the log.
            horizon = None if rng.random() < 0.5 else rng.choice(horizons)
            position = None if rng.random() < 0.3 else rng.randint(min(positions) - 1, max(positions))
            # The pure functions read H from the params, as the SQL does: every record keeps its tx.
            facts = facts_from_events([envelope_of(event) for event in events])
            from_date = _day(rng, low, high)
            to_date = _day(rng, from_date, from_date + dt.timedelta(days=150))
            as_of = _day(rng, to_date - dt.timedelta(days=30), to_date + dt.timedelta(days=90))
            cohort = rng.choice([None, None, "spring", "autumn"])
            counselor = rng.choice([None, None, *map(uuid.UUID, counselors)])
            params = ReportParams(
                from_date=from_date,
                to_date=to_date,
                as_of=as_of,
                time_zone=zone,
                as_of_position=position,
                as_of_horizon=horizon,
                cohort=cohort,
                counselor_id=counselor,
            )
            # As asked, and programme-wide (from the tallies, in the zone they are counted in): over the same
            # period, and from the start to a day amid the log (where much is dated and voided after as_of).
            programme_wide = msgspec.structs.replace(params, cohort=None, counselor_id=None)
            amid = _day(rng, min(dates), max(dates))
            span = msgspec.structs.replace(programme_wide, from_date=low, to_date=amid, as_of=amid)
            for group_by, asked in itertools.product((None, *GROUP_BYS), (params, programme_wide, span)):
                sql = await response_rates_at(conn, programme_id, asked, group_by)
                pure = response_rates(facts, asked, group_by)
                assert sql == pure, (group_by, asked)
                assert sql == response_rates(facts, asked, group_by, indexed=False), (group_by, asked)

            view = ViewParams(
                as_of=as_of,
                time_zone=zone,
                as_of_position=position,
                as_of_horizon=horizon,
                cohort=cohort,
                counselor_id=counselor,
            )
            assert await programme_funnel_at(conn, programme_id, view) == programme_funnel(facts, view)
            looking = looking_from(view)
            expected_caseload = sorted(
                participant_id
                for participant_id, bundle in facts.participants.items()
                if (enrolment := enrolment_as_of(bundle, looking)) is not None
                and (cohort is None or enrolment.cohort == cohort)
                and (counselor is None or counselor_as_of(bundle, enrolment, looking) == counselor)
            )
            assert await caseload(conn, programme_id, view) == expected_caseload
            follow_up = FollowUpParams(
                as_of=as_of,
                time_zone=zone,
                as_of_position=position,
                as_of_horizon=horizon,
                cohort=cohort,
                counselor_id=counselor,
                follow_up_after_days=rng.choice([3, 7, 14]),
            )
            queue = await follow_ups_at(conn, programme_id, follow_up, chunk=rng.randint(1, 3))
            assert queue == follow_up_queue(facts, follow_up)
            one = ViewParams(as_of=as_of, time_zone=zone, as_of_position=position, as_of_horizon=horizon)
            for participant_id in facts.participants:
                assert await timeline_at(conn, programme_id, participant_id, one) == timeline(
                    facts, participant_id, one
                )
                assert await relationships_at(conn, programme_id, participant_id, one) == relationships(
                    facts, participant_id, one
                )
                assert await pipeline_at(conn, programme_id, participant_id, one) == participant_pipeline(
                    facts, participant_id, one
                )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), chunks=st.integers(2, 6))
async def test_stored_follow_up_answers_serve_only_while_nothing_of_theirs_changed(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, seed: int, chunks: int
) -> None:
    """Asked after each part of a log is recorded, and again at every earlier position, the queue (served from
    stored answers where they stand, computed where not) always equals the pure function at that position."""
    rng = random.Random(seed)
    programme_id, admin = await create_programme(
        owner, name="Stored", admin_email=f"s{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    counselors = [str(admin)]
    log = _varied(rng, programme_log(rng, counselors, participants=rng.randint(2, 6)), counselors)
    voids = [line for line in log if line["type"] == "entry_voided"]
    rest = [line for line in log if line["type"] != "entry_voided"]
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: FAR_FUTURE)
    store = EventStore(worker_pool)
    cut = sorted(rng.sample(range(1, len(rest)), min(chunks - 1, len(rest) - 1)))
    parts = [rest[start:end] for start, end in zip([0, *cut], [*cut, len(rest)], strict=True)]
    parts[-1] = parts[-1] + voids  # voids last: each names an event recorded by then
    zone = zoneinfo.ZoneInfo(rng.choice(ZONES))
    dates = [_at(line).date() for line in log]
    as_of = _day(rng, min(dates), max(dates) + dt.timedelta(days=120))
    after = rng.choice([3, 7, 14])
    asked: list[tuple[int, int]] = []
    for part in parts:
        await recorder.record(programme_id, [incoming(line) for line in part], Metadata(programme_id=programme_id))
        await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
        events = await _events_of(store, programme_id)
        facts = facts_from_events([envelope_of(event) for event in events])
        # The position after this part, with a horizon past each of its transactions.
        asked.append((events[-1].global_position, max(int(event.tx_id) for event in events) + 1))
        async with tenant_connection(pool, programme_id) as conn:
            for position, horizon in [asked[-1], *rng.sample(asked, len(asked)), asked[-1]]:
                params = FollowUpParams(
                    as_of=as_of,
                    time_zone=zone,
                    as_of_position=position,
                    as_of_horizon=horizon,
                    follow_up_after_days=after,
                )
                assert await follow_ups_at(conn, programme_id, params) == follow_up_queue(facts, params)
    # One answer kept for each participant the queue covers (those enrolled by as_of), whoever asked last.
    stored = await owner.fetchval("SELECT count(*) FROM follow_up_answers WHERE programme_id = $1", programme_id)
    last = ViewParams(as_of=as_of, time_zone=zone, as_of_position=asked[-1][0], as_of_horizon=asked[-1][1])
    async with tenant_connection(pool, programme_id) as conn:
        covered = await caseload(conn, programme_id, last)
        assert stored == len(covered)
        # Nothing changed since the last ask: every covered participant's answer is served as stored.
        again = FollowUpParams(**{f: getattr(last, f) for f in last.__struct_fields__}, follow_up_after_days=after)
        assert set(await stored_answers(conn, programme_id, covered, again)) == set(covered)


async def test_the_worker_prepares_todays_follow_up_answers_for_every_participant(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    rng = random.Random(7)
    programme_id, admin = await create_programme(
        owner, name="Early", admin_email=f"e{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    log = programme_log(rng, [str(admin)], participants=4)
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: FAR_FUTURE)
    await recorder.record(programme_id, [incoming(line) for line in log], Metadata(programme_id=programme_id))
    store = EventStore(worker_pool)
    await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
    now = max(_at(line) for line in log) + dt.timedelta(days=30)

    assert await prepare_follow_ups(worker_pool, now) >= 4

    zone, after = await owner.fetchrow(
        "SELECT time_zone, follow_up_after_days FROM programmes WHERE programme_id = $1", programme_id
    )
    facts = facts_from_events([envelope_of(event) for event in await _events_of(store, programme_id)])
    async with tenant_connection(pool, programme_id) as conn:
        pinned = await conn.fetchrow("SELECT position, horizon FROM report_positions ORDER BY position DESC LIMIT 1")
        params = FollowUpParams(
            as_of=now.astimezone(zoneinfo.ZoneInfo(zone)).date(),
            time_zone=zoneinfo.ZoneInfo(zone),
            as_of_position=pinned["position"],
            as_of_horizon=pinned["horizon"],
            follow_up_after_days=after,
        )
        covered = await caseload(conn, programme_id, params)
        assert len(covered) == 4
        served = await stored_answers(conn, programme_id, covered, params)
        assert set(served) == set(covered)  # ready before anyone asked
        items = sorted((item for answer in served.values() for item in answer), key=queue_order)
        assert items == follow_up_queue(facts, params)
        assert items  # a month after the last event, something is due


def _position_after(events: list[RecordedEvent]) -> tuple[int, int]:
    """The report position after ``events``, with a horizon past each of their transactions."""
    return events[-1].global_position, max(int(event.tx_id) for event in events) + 1


async def test_a_contacts_change_leaves_standing_the_answers_of_participants_whose_records_never_name_it(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """An employer change of one contact, then a void of it: each time, the stored answers of the participants
    whose records name the contact stop standing, everyone else's are served, and the queue is the pure one."""
    rng = random.Random(11)
    programme_id, admin = await create_programme(
        owner, name="Contacts", admin_email=f"c{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    log = programme_log(rng, [str(admin)], participants=8, contacts=6)
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: FAR_FUTURE)
    store = EventStore(worker_pool)
    as_of = max(_at(line) for line in log).date() + dt.timedelta(days=30)
    zone = zoneinfo.ZoneInfo("America/Chicago")

    def naming(contact: str) -> set[uuid.UUID]:
        """The participants with a line of the log that names ``contact`` (read off the log, not the read models)."""
        return {
            uuid.UUID(line["stream_id"].removeprefix("participant-"))
            for line in log
            if line["stream_id"].startswith("participant-") and contact in line["data"].values()
        }

    contacts = [line["stream_id"].removeprefix("contact-") for line in log if line["type"] == "contact_added"]
    employers = [line["stream_id"].removeprefix("employer-") for line in log if line["type"] == "employer_added"]
    everyone = {
        uuid.UUID(line["stream_id"].removeprefix("participant-"))
        for line in log
        if line["type"] == "participant_enrolled"
    }
    # The contact named by the fewest participants, but by some.
    contact = min((c for c in contacts if naming(c)), key=lambda c: len(naming(c)))
    assert naming(contact) < everyone
    added = next(line for line in log if line["stream_id"] == f"contact-{contact}")
    update = {
        "stream_id": f"contact-{contact}",
        "type": "contact_updated",
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "occurred_at": (max(_at(line) for line in log) + dt.timedelta(days=1)).isoformat(),
        "data": {"employer_id": next(e for e in employers if e != added["data"]["employer_id"])},
    }
    void = {
        "stream_id": f"contact-{contact}",
        "type": "entry_voided",
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "occurred_at": (_at(update) + dt.timedelta(days=1)).isoformat(),
        "data": {"voided_event_id": update["event_id"], "reason": "entered by mistake"},
    }
    for step, lines in enumerate((log, [update], [void])):
        await recorder.record(programme_id, [incoming(line) for line in lines], Metadata(programme_id=programme_id))
        await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
        events = await _events_of(store, programme_id)
        position, horizon = _position_after(events)
        params = FollowUpParams(
            as_of=as_of, time_zone=zone, as_of_position=position, as_of_horizon=horizon, follow_up_after_days=7
        )
        async with tenant_connection(pool, programme_id) as conn:
            covered = set(await caseload(conn, programme_id, params))
            assert covered == everyone
            served = set(await stored_answers(conn, programme_id, list(covered), params))
            assert served == (set() if step == 0 else everyone - naming(contact))
            facts = facts_from_events([envelope_of(event) for event in events])
            assert await follow_ups_at(conn, programme_id, params) == follow_up_queue(facts, params)
            # Asked again with nothing changed: every answer is served as stored.
            assert set(await stored_answers(conn, programme_id, list(covered), params)) == everyone


async def test_in_the_last_hour_of_its_day_the_worker_prepares_the_next_days_follow_up_answers(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """At 23:10 in the programme's zone the preparation keeps today's answers and tomorrow's; the queue asked
    after midnight is served from them; the next preparation deletes the day before's."""
    rng = random.Random(5)
    programme_id, admin = await create_programme(
        owner, name="Midnight", admin_email=f"m{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    zone = zoneinfo.ZoneInfo("Asia/Kolkata")  # +05:30: the worker's hourly run at :10 UTC is at :40 there
    await owner.execute("UPDATE programmes SET time_zone = $1 WHERE programme_id = $2", zone.key, programme_id)
    log = programme_log(rng, [str(admin)], participants=4)
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: FAR_FUTURE)
    await recorder.record(programme_id, [incoming(line) for line in log], Metadata(programme_id=programme_id))
    store = EventStore(worker_pool)
    await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
    today = max(_at(line) for line in log).astimezone(zone).date() + dt.timedelta(days=20)
    tomorrow = today + dt.timedelta(days=1)

    async def kept_days() -> list[dt.date]:
        rows = await owner.fetch(
            "SELECT DISTINCT as_of FROM follow_up_answers WHERE programme_id = $1 ORDER BY as_of", programme_id
        )
        return [row["as_of"] for row in rows]

    before_midnight = dt.datetime.combine(today, dt.time(23, 40), zone)
    assert await prepare_follow_ups(worker_pool, before_midnight - dt.timedelta(hours=1)) == 4
    assert await kept_days() == [today]
    assert await prepare_follow_ups(worker_pool, before_midnight) == 8
    assert await kept_days() == [today, tomorrow]

    # Just after midnight, before the next preparation: tomorrow's answers serve the first ask of the day.
    facts = facts_from_events([envelope_of(event) for event in await _events_of(store, programme_id)])
    async with tenant_connection(pool, programme_id) as conn:
        pinned = await conn.fetchrow("SELECT position, horizon FROM report_positions ORDER BY position DESC LIMIT 1")
        params = FollowUpParams(
            as_of=tomorrow,
            time_zone=zone,
            as_of_position=pinned["position"],
            as_of_horizon=pinned["horizon"],
            follow_up_after_days=await owner.fetchval(
                "SELECT follow_up_after_days FROM programmes WHERE programme_id = $1", programme_id
            ),
        )
        covered = await caseload(conn, programme_id, params)
        served = await stored_answers(conn, programme_id, covered, params)
        assert set(served) == set(covered) and len(covered) == 4
        items = sorted((item for answer in served.values() for item in answer), key=queue_order)
        assert items == follow_up_queue(facts, params)

    assert await prepare_follow_ups(worker_pool, before_midnight + dt.timedelta(hours=1)) == 4
    assert await kept_days() == [tomorrow]
