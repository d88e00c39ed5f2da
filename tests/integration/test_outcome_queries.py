"""Property: the outcome report answered with SQL from the read-model tables equals ``outcome_report()``.

Programmes are generated with what makes the report hard: voids dated before or
after what they void (and of contacts, hires, exits and enrolments), late
entries (appended after events dated later), back-dated start and end dates,
counselor reassignments, better-job moves, promotions, referral-named
applications, exits whose quarters run across a year end, profiles with missing
values; reports are asked in several time zones, with ``as_of`` before, inside
and long after the programme, with cohort and counselor filters, and at earlier
report positions.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
import zoneinfo
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.reporting.facts import EventEnvelope, facts_from_events
from domain.reporting.outcomes import outcome_report
from domain.reporting.response_rates import GROUP_BYS, response_rates
from domain.reporting.scope import ReportParams
from infra.accounts import create_programme, create_user
from infra.db import tenant_connection
from infra.event_store import Cursor, EventStore, Metadata
from projections import outcome_queries, read_models, response_rate_queries
from projections.runner import catch_up, envelope_of
from services.recording import Recorder
from tests.support import incoming, subject_keys

ZONES = ("UTC", "America/Chicago", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin")
FIRST_DAY = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
Line = dict[str, Any]


class _Log:
    """A programme's log under construction: lines in append order, each stream's in its own order."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.streams: list[list[Line]] = []

    def line(self, stream: list[Line], stream_id: str, type_: str, when: dt.datetime, data: dict[str, Any]) -> str:
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        # Near midnight in some zone or other: the instant is kept, its day depends on the report's zone.
        stream.append(
            {"stream_id": stream_id, "type": type_, "event_id": event_id, "occurred_at": when.isoformat(), "data": data}
        )
        return event_id

    def interleaved(self) -> list[Line]:
        """Every stream's lines, each stream in order, the streams shuffled together (so positions interleave)."""
        queues = [list(stream) for stream in self.streams if stream]
        lines: list[Line] = []
        while queues:
            queue = self.rng.choice(queues)
            lines.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
        return lines


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _maybe(rng: random.Random, chance: float, value: Any) -> Any:
    return value if rng.random() < chance else None


def programme(rng: random.Random, counselors: list[str], employers: list[str]) -> list[Line]:
    """One programme's log (contacts first, then participants interleaved, then some contacts' voids)."""
    log = _Log(rng)
    contacts: list[tuple[str, str]] = []  # (contact_id, event_id of contact_added)
    directory: list[Line] = []  # first: a participant's events may name any contact
    for _ in range(rng.randint(1, 4)):
        contact = _new_id(rng)
        stream: list[Line] = []
        when = FIRST_DAY - dt.timedelta(days=rng.randint(-30, 60))
        data: dict[str, Any] = {"name": "Contact"}
        if rng.random() < 0.7:
            data["employer_id"] = rng.choice(employers)
        contacts.append((contact, log.line(directory, f"contact-{contact}", "contact_added", when, data)))
    for _ in range(rng.randint(2, 8)):
        stream = []
        log.streams.append(stream)
        _participant(log, stream, counselors, [contact for contact, _ in contacts], employers)
    lines = directory + log.interleaved()
    # Some contacts are voided afterwards, dated before or after the links they made.
    for contact, event_id in contacts:
        if rng.random() < 0.25:
            when = FIRST_DAY + dt.timedelta(days=rng.randint(-40, 400), hours=rng.randint(0, 23))
            void = {"voided_event_id": event_id, "reason": "duplicate"}
            lines.append(
                {
                    "stream_id": f"contact-{contact}",
                    "type": "entry_voided",
                    "event_id": _new_id(rng),
                    "occurred_at": when.isoformat(),
                    "data": void,
                }
            )
    return lines


def _participant(
    log: _Log, stream: list[Line], counselors: list[str], contacts: list[str], employers: list[str]
) -> None:
    rng = log.rng
    pid = _new_id(rng)
    stream_id = f"participant-{pid}"
    now = FIRST_DAY + dt.timedelta(days=rng.randint(-20, 200), hours=rng.randint(0, 23), minutes=rng.choice([0, 59]))
    enrolled_on = (now - dt.timedelta(days=rng.choice([0, 0, 1, 3, 30]))).date()  # sometimes back-dated
    profile = {
        "display_name": "Person",
        "age_band": _maybe(rng, 0.7, rng.choice(["18-24", "25-34", "55+"])),
        "gender": _maybe(rng, 0.6, rng.choice(["woman", "man"])),
        "race_ethnicity": _maybe(rng, 0.5, rng.choice(["Black", "White"])),
        "veteran": _maybe(rng, 0.7, rng.random() < 0.3),
    }
    data: dict[str, Any] = {
        "enrolled_on": enrolled_on.isoformat(),
        "counselor_id": rng.choice(counselors),
        "profile": {key: value for key, value in profile.items() if value is not None},
    }
    cohort = _maybe(rng, 0.8, rng.choice(["spring", "autumn"]))
    if cohort is not None:
        data["cohort"] = cohort
    enrolment = log.line(stream, stream_id, "participant_enrolled", now, data)
    outreaches: list[tuple[str, dt.datetime]] = []
    referrals: list[str] = []
    jobs: list[tuple[str, dt.date]] = []
    voidable: list[tuple[str, str, str]] = []  # (event_id, type, id it made)
    exit_event: str | None = None
    assigned_at: dt.datetime | None = None
    for _ in range(rng.randint(0, 16)):
        now += dt.timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 23))
        # A late entry: recorded now, dated before events already recorded.
        when = now - dt.timedelta(days=rng.randint(1, 60)) if rng.random() < 0.25 else now
        roll = rng.random()
        after_exit = exit_event is not None
        if roll < 0.10 and not after_exit:
            # Often dated before the assignment recorded before it: the latest by date is the counselor.
            if assigned_at is not None and rng.random() < 0.5:
                when = assigned_at - dt.timedelta(hours=rng.choice([0, 1, 30]))  # ties too: the higher position wins
            assigned_at = when
            log.line(stream, stream_id, "counselor_assigned", when, {"counselor_id": counselors[rng.randrange(1, 3)]})
        elif roll < 0.30 and not after_exit:
            outreach = _new_id(rng)
            data = {
                "outreach_id": outreach,
                "contact_id": rng.choice(contacts),
                "channel": rng.choice(["email", "phone"]),
                "purpose": "introduction",
            }
            if outreaches and rng.random() < 0.4:
                data["follow_up_of"] = rng.choice(outreaches)[0]
            event_id = log.line(stream, stream_id, "outreach_sent", when, data)
            outreaches.append((outreach, when))
            voidable.append((event_id, "outreach", outreach))
        elif roll < 0.42 and outreaches and not after_exit:
            outreach, sent = rng.choice(outreaches)
            replied = max(when, sent + dt.timedelta(hours=rng.randint(0, 200)))
            event_id = log.line(
                stream,
                stream_id,
                "response_received",
                replied,
                {"outreach_id": outreach, "outcome": rng.choice(["positive", "neutral"])},
            )
            voidable.append((event_id, "response", ""))
        elif roll < 0.48 and not after_exit:
            referral = _new_id(rng)
            event_id = log.line(
                stream, stream_id, "referral_made", when, {"referral_id": referral, "contact_id": rng.choice(contacts)}
            )
            referrals.append(referral)
            voidable.append((event_id, "referral", referral))
        elif roll < 0.54 and not after_exit:
            data = {
                "application_id": _new_id(rng),
                "employer_id": rng.choice(employers),
                "position": "Cook",
                "route": "online",
            }
            if referrals and rng.random() < 0.7:
                data["referral_id"] = rng.choice(referrals)
                data["route"] = "referral"
            voidable.append((log.line(stream, stream_id, "application_submitted", when, data), "application", ""))
        elif roll < 0.68:
            job = _new_id(rng)
            start = when.date() + dt.timedelta(days=rng.randint(-20, 20))  # back-dated or ahead
            data = {
                "job_id": job,
                "employer_id": rng.choice(employers),
                "title": "Cook",
                "start_date": start.isoformat(),
                "source": rng.choice(["referral", "network_contact", "walk_in", "online_application"]),
            }
            if rng.random() < 0.6:
                data["hourly_wage"] = f"{rng.randint(15, 25)}.{rng.choice(['00', '25', '50'])}"
            if rng.random() < 0.3:
                data["via_contact_id"] = rng.choice(contacts)
            event_id = log.line(stream, stream_id, "hired", when, data)
            jobs.append((job, start))
            voidable.append((event_id, "job", job))
        elif roll < 0.74 and jobs:
            job, start = rng.choice(jobs)
            day = max(start + dt.timedelta(days=rng.randint(0, 200)), start)
            data = {"job_id": job, "verified_on": day.isoformat(), "method": "pay_stub"}
            voidable.append((log.line(stream, stream_id, "employment_verified", when, data), "verification", ""))
        elif roll < 0.78 and jobs:
            job, start = rng.choice(jobs)
            day = start + dt.timedelta(days=rng.randint(0, 400))
            data = {"job_id": job, "promoted_on": day.isoformat(), "new_title": "Lead"}
            voidable.append((log.line(stream, stream_id, "promoted", when, data), "promotion", ""))
        elif roll < 0.85 and jobs:
            job, start = rng.choice(jobs)
            day = start + dt.timedelta(days=rng.choice([0, 10, 29, 30, 89, 95, 200]))
            reason = rng.choice(["quit", "moved_to_better_job", "moved_to_better_job", "laid_off"])
            data = {"job_id": job, "ended_on": day.isoformat(), "reason": reason}
            voidable.append((log.line(stream, stream_id, "job_ended", when, data), "job_end", ""))
        elif roll < 0.90 and not after_exit:
            # Exits late in a year, so their 2nd and 4th quarters after run into the next.
            day = when.date() - dt.timedelta(days=rng.choice([0, 0, 5, 40]))
            data = {"exited_on": day.isoformat(), "reason": rng.choice(["employed", "completed", "reincarcerated"])}
            exit_event = log.line(stream, stream_id, "participant_exited", when, data)
            voidable.append((exit_event, "exit", ""))
        elif voidable:
            event_id, made, made_id = voidable.pop(rng.randrange(len(voidable)))
            void_at = when + dt.timedelta(days=rng.choice([-30, 0, 0, 10, 90]))  # a void dated before or after
            log.line(stream, stream_id, "entry_voided", void_at, {"voided_event_id": event_id, "reason": "mistake"})
            # What it made no longer exists: stop referring to it.
            outreaches = [o for o in outreaches if o[0] != made_id] if made == "outreach" else outreaches
            referrals = [r for r in referrals if r != made_id]
            jobs = [j for j in jobs if j[0] != made_id]
            if event_id == exit_event:
                exit_event = None
    if rng.random() < 0.1:
        when = now + dt.timedelta(days=rng.choice([-400, 0, 20]))
        log.line(stream, stream_id, "entry_voided", when, {"voided_event_id": enrolment, "reason": "duplicate"})


def days_named(lines: list[Line]) -> list[dt.date]:
    """Every date the log names or is dated on: the days where a figure may turn."""
    days = {dt.datetime.fromisoformat(line["occurred_at"]).date() for line in lines}
    for line in lines:
        for field in ("enrolled_on", "start_date", "ended_on", "verified_on", "promoted_on", "exited_on"):
            if field in line["data"]:
                days.add(dt.date.fromisoformat(line["data"][field]))
    return sorted(days)


def report_params(rng: random.Random, counselors: list[str], highest: int, days: list[dt.date]) -> ReportParams:
    """A report over some enrolment period, looking from some day, zone and position, maybe filtered.

    ``as_of`` is often a day the log names, give or take one (where a milestone, a window or a
    quarter ends), or a day after the quarters of the exits, or before everything.
    """
    from_date = (FIRST_DAY + dt.timedelta(days=rng.choice([-60, -1, 0, 30, 100, 200]))).date()
    to_date = from_date + dt.timedelta(days=rng.choice([0, 150, 400, 400]))
    if rng.random() < 0.6:
        as_of = rng.choice(days) + dt.timedelta(days=rng.choice([-1, 0, 1, 14, 30, 90, 180]))
    else:
        as_of = from_date + dt.timedelta(days=rng.choice([-5, 0, 30, 120, 200, 400, 700, 900]))
    return ReportParams(
        from_date=from_date,
        to_date=to_date,
        as_of=as_of,
        time_zone=zoneinfo.ZoneInfo(rng.choice(ZONES)),
        as_of_position=rng.choice([None, rng.randint(1, highest)]),
        cohort=rng.choice([None, None, None, "spring"]),
        counselor_id=rng.choice([None, None, None, uuid.UUID(rng.choice(counselors))]),
    )


# The fixtures (one database) are shared by every example on purpose: each example is its own programme.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), batch_size=st.integers(1, 60))
async def test_outcome_report_from_sql_equals_the_pure_report(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, seed: int, batch_size: int
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
    employers = [_new_id(rng) for _ in range(2)]
    lines = [
        {
            "stream_id": f"employer-{employer}",
            "type": "employer_added",
            "event_id": _new_id(rng),
            "occurred_at": (FIRST_DAY - dt.timedelta(days=90)).isoformat(),
            "data": {"name": "Employer", "fair_chance": True},
        }
        for employer in employers
    ]
    lines += programme(rng, counselors, employers)
    # The log is dated up to a few years after FIRST_DAY; the append rules judge "not in the future" by this clock.
    latest = max(dt.datetime.fromisoformat(line["occurred_at"]) for line in lines)
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: latest)
    cut = rng.randint(1, len(lines))
    for part in (lines[:cut], lines[cut:]):
        if part:
            await recorder.record(programme_id, [incoming(line) for line in part], Metadata(programme_id=programme_id))
    store = EventStore(worker_pool)
    await catch_up(
        store,
        read_models.ReadModelsProjection(),
        table=read_models.LIVE_PREFIX,
        batch_size=batch_size,
        settle_seconds=30,
    )
    cursor, mine = Cursor(), []
    while batch := await store.read_all(cursor, limit=5000):
        mine += [envelope_of(e) for e in batch if e.programme_id == programme_id]
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    facts = facts_from_events(mine)
    highest = mine[-1].global_position
    days = days_named(lines)
    for _ in range(10):
        params = report_params(rng, counselors, highest, days)
        async with tenant_connection(pool, programme_id) as conn:  # as the API reads: its role, one programme
            answered = await outcome_queries.outcome_report(conn, programme_id, params)
        assert answered == outcome_report(facts, params), params


WORKED_CASE = ReportParams(
    from_date=FIRST_DAY.date() + dt.timedelta(days=5),
    to_date=FIRST_DAY.date() + dt.timedelta(days=60),
    as_of=FIRST_DAY.date() + dt.timedelta(days=30),
    time_zone=zoneinfo.ZoneInfo("UTC"),
)
"""The worked cases' report: from day 5 to day 60 of FIRST_DAY, as of day 30, in UTC."""


async def _recorded_and_projected(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, programme_id: uuid.UUID, lines: list[Line]
) -> list[EventEnvelope]:
    """``lines`` recorded in one batch (by a clock 60 days after FIRST_DAY), the read models caught up, and the
    programme's events read back."""
    recorder = Recorder(EventStore(pool), keys=subject_keys(), clock=lambda: FIRST_DAY + dt.timedelta(days=60))
    await recorder.record(programme_id, [incoming(line) for line in lines], Metadata(programme_id=programme_id))
    store = EventStore(worker_pool)
    await catch_up(store, read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30)
    cursor, mine = Cursor(), []
    while batch := await store.read_all(cursor, limit=5000):
        mine += [envelope_of(e) for e in batch if e.programme_id == programme_id]
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    return mine


async def test_outreach_counted_from_the_tallies_where_dates_make_them_differ(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """Each kind of outreach the tallies count but a report may not, or the other way: dated before ``from``
    (a late entry before the enrolment), after ``as_of``, voided after it, answered only after it, answered
    before it by a response voided after it; at the latest position, where every participant is settled."""
    rng = random.Random(7)
    programme_id, admin = await create_programme(
        owner, name="Tallies", admin_email=f"p{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    log = _Log(rng)
    directory: list[Line] = []
    contact = _new_id(rng)
    log.line(directory, f"contact-{contact}", "contact_added", FIRST_DAY - dt.timedelta(days=30), {"name": "C"})
    stream: list[Line] = []
    sid = f"participant-{_new_id(rng)}"
    day = FIRST_DAY.date()
    enrolment = {
        "enrolled_on": (day + dt.timedelta(days=10)).isoformat(),
        "counselor_id": str(admin),
        "profile": {"display_name": "P"},
    }
    log.line(stream, sid, "participant_enrolled", FIRST_DAY + dt.timedelta(days=10), enrolment)

    def outreach(days: int) -> tuple[str, str]:
        outreach_id = _new_id(rng)
        data = {"outreach_id": outreach_id, "contact_id": contact, "channel": "email", "purpose": "introduction"}
        return outreach_id, log.line(stream, sid, "outreach_sent", FIRST_DAY + dt.timedelta(days=days), data)

    def respond(outreach_id: str, days: int) -> str:
        data = {"outreach_id": outreach_id, "outcome": "positive"}
        return log.line(stream, sid, "response_received", FIRST_DAY + dt.timedelta(days=days), data)

    def void(event_id: str, days: int) -> None:
        data = {"voided_event_id": event_id, "reason": "mistake"}
        log.line(stream, sid, "entry_voided", FIRST_DAY + dt.timedelta(days=days), data)

    outreach(2)  # a late entry dated before the enrolment, and before "from"
    plain, _ = outreach(12)
    respond(plain, 13)  # counted and answered, as in the tally
    outreach(40)  # dated after as_of
    _, voided_later = outreach(14)
    void(voided_later, 35)  # voided after as_of: still counts in the report
    for days in (15, 21):
        answered_later, _ = outreach(days)
        respond(answered_later, 34)  # answered only after as_of
    twice, _ = outreach(16)
    respond(twice, 17)
    void(respond(twice, 18), 36)  # a second response, voided after as_of: answered either way
    unanswered, _ = outreach(19)
    void(respond(unanswered, 20), 36)  # its only response voided after as_of: answered in the report
    mine = await _recorded_and_projected(pool, worker_pool, programme_id, directory + stream)
    params = WORKED_CASE
    async with tenant_connection(pool, programme_id) as conn:
        answered = await outcome_queries.outcome_report(conn, programme_id, params)
    expected = outcome_report(facts_from_events(mine), params)
    assert answered == expected
    # Sent in the window by as_of: plain, voided_later, the two answered later, twice, unanswered; answered by
    # then: plain, twice, unanswered.
    assert (expected.populations.outreach_sent, expected.populations.outreach_answered) == (6, 3)


async def test_dashboard_counted_from_its_tallies_where_dates_make_them_differ(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    """Each kind of unit the dashboard tallies hold otherwise than a dashboard counts it (migration 0024): voided
    after ``as_of``, answered only after it, positive only after it, answered before it by a response voided
    after it, of a participant
    reassigned after it, of a participant whose enrolment is voided after it, renumbered by a void before it;
    programme-wide and at the latest position, so that the dashboard is read from the tallies."""
    rng = random.Random(8)
    programme_id, admin = await create_programme(
        owner, name="Dashboard tallies", admin_email=f"p{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    other = await create_user(
        owner, programme_id=programme_id, email=f"c{uuid.uuid4().hex}@x.org", role="counselor", password="x" * 12
    )
    log = _Log(rng)
    directory: list[Line] = []
    contact = _new_id(rng)
    log.line(directory, f"contact-{contact}", "contact_added", FIRST_DAY - dt.timedelta(days=30), {"name": "C"})
    day = FIRST_DAY.date()
    streams: list[list[Line]] = []

    def participant() -> tuple[list[Line], str, str]:
        stream: list[Line] = []
        streams.append(stream)
        sid = f"participant-{_new_id(rng)}"
        data = {"enrolled_on": day.isoformat(), "counselor_id": str(admin), "profile": {"display_name": "P"}}
        return stream, sid, log.line(stream, sid, "participant_enrolled", FIRST_DAY, data)

    def outreach(who: tuple[list[Line], str, str], days: int, follows: str | None = None) -> tuple[str, str]:
        outreach_id = _new_id(rng)
        data = {"outreach_id": outreach_id, "contact_id": contact, "channel": "email", "purpose": "introduction"}
        if follows is not None:
            data["follow_up_of"] = follows
        return outreach_id, log.line(who[0], who[1], "outreach_sent", FIRST_DAY + dt.timedelta(days=days), data)

    def respond(who: tuple[list[Line], str, str], outreach_id: str, days: int, outcome: str = "positive") -> str:
        data = {"outreach_id": outreach_id, "outcome": outcome}
        return log.line(who[0], who[1], "response_received", FIRST_DAY + dt.timedelta(days=days), data)

    def void(who: tuple[list[Line], str, str], event_id: str, days: int) -> None:
        data = {"voided_event_id": event_id, "reason": "mistake"}
        log.line(who[0], who[1], "entry_voided", FIRST_DAY + dt.timedelta(days=days), data)

    first = participant()
    plain, _ = outreach(first, 12)
    respond(first, plain, 13)  # counted and answered, as in the tallies
    outreach(first, 40)  # dated after as_of
    _, voided_later = outreach(first, 14)
    void(first, voided_later, 35)  # voided after as_of: still counts
    for days in (15, 21):
        answered_later, _ = outreach(first, days)
        respond(first, answered_later, 34)  # answered only after as_of
    twice, _ = outreach(first, 16)
    respond(first, twice, 17)
    void(first, respond(first, twice, 18), 36)  # a second response, voided after as_of: answered either way
    unanswered, _ = outreach(first, 19)
    void(first, respond(first, unanswered, 20), 36)  # its only response voided after as_of: answered
    positive_later, _ = outreach(first, 25)
    respond(first, positive_later, 26, "neutral")
    respond(first, positive_later, 33)  # answered by as_of, but positive only after it
    parent, parent_event = outreach(first, 22)
    outreach(first, 23, follows=parent)  # attempt 2 when sent; 1 once its parent is voided (before as_of)
    void(first, parent_event, 24)
    late_parent, _ = outreach(first, 35)
    outreach(first, 27, follows=late_parent)  # dated before its parent, which is after as_of: attempt 1
    reassigned = participant()
    answered_once, _ = outreach(reassigned, 12)
    respond(reassigned, answered_once, 13)
    data = {"counselor_id": str(other)}
    log.line(reassigned[0], reassigned[1], "counselor_assigned", FIRST_DAY + dt.timedelta(days=33), data)
    removed = participant()
    answered_too, _ = outreach(removed, 13)
    respond(removed, answered_too, 14)
    void(removed, removed[2], 37)  # the enrolment voided after as_of: the participant still counts
    lines = directory + [line for stream in streams for line in stream]
    mine = await _recorded_and_projected(pool, worker_pool, programme_id, lines)
    facts = facts_from_events(mine)
    params = WORKED_CASE
    async with tenant_connection(pool, programme_id) as conn:
        zone = await conn.fetchval("SELECT time_zone FROM rm_dashboard_zones WHERE programme_id = $1", programme_id)
        assert zone == "UTC"  # so the dashboards below are read from the tallies
        for group_by in (None, *GROUP_BYS):
            expected = response_rates(facts, params, group_by)
            assert await response_rate_queries.response_rates_at(conn, programme_id, params, group_by) == expected
    # Sent by as_of: the first participant's plain, voided later, two answered later, twice, unanswered, positive
    # later and the two renumbered follow-ups; one each of the reassigned and the removed. Answered: plain, twice,
    # unanswered, positive later, and the other two's; positive all of them but positive later.
    overall = response_rates(facts, params).overall
    assert (overall.sent, overall.answered, overall.positive) == (11, 6, 5)
    by_attempt = response_rates(facts, params, "attempt").groups
    assert list(by_attempt) == ["1"]
    by_counselor = response_rates(facts, params, "counselor").groups
    assert list(by_counselor) == [str(admin)]
