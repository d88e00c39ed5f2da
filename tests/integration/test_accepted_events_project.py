"""Property: every event the recording rules accept, the worker projects and every read computes.

Dates and instants are drawn from the whole calendar (year 1 to 9999, the
extreme offsets) and from the edges of what the rules allow; whatever is
accepted must be projected by every projection without a hold, and every
report and view must compute from it, looking from any accepted date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.reporting.facts import Facts
from domain.reporting.follow_ups import FollowUpParams, follow_up_queue
from domain.reporting.outcomes import outcome_report
from domain.reporting.pipeline import participant_pipeline, programme_funnel
from domain.reporting.relationships import relationships, timeline
from domain.reporting.response_rates import response_rates
from domain.reporting.scope import ReportParams
from domain.reporting.snapshot import ViewParams
from domain.rules import DATES_AHEAD, EARLIEST
from domain.streams import RuleViolation
from infra.accounts import create_programme, create_user
from infra.event_store import EventStore, Metadata
from projections import read_models
from projections.holds import holds
from projections.registry import PROJECTIONS
from projections.runner import catch_up
from services.recording import Recorder
from tests.support import incoming, subject_keys

TODAY = dt.datetime.now(dt.UTC).date()
SANE = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)  # the directory's records: before any participant event drawn
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]

edge_dates = st.sampled_from(
    [dt.date.min, dt.date.max, EARLIEST, EARLIEST - dt.timedelta(days=1), TODAY, TODAY + DATES_AHEAD]
)
any_date = st.one_of(edge_dates, st.dates(), st.dates(min_value=EARLIEST, max_value=TODAY + DATES_AHEAD))
any_instant = st.one_of(
    st.datetimes(timezones=st.sampled_from(ZONES)),
    st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime.now().replace(tzinfo=None),
        timezones=st.sampled_from(ZONES),
    ),
    st.sampled_from(
        [
            dt.datetime(1, 1, 1, tzinfo=dt.UTC),
            dt.datetime(1900, 1, 1, tzinfo=dt.UTC),
            dt.datetime(1900, 1, 1, tzinfo=ZONES[2]),
            dt.datetime.now(dt.UTC) + dt.timedelta(hours=23),
        ]
    ),
)


def _line(stream_id: str, type_: str, data: dict[str, Any], occurred_at: dt.datetime) -> dict[str, Any]:
    return {
        "stream_id": stream_id,
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "occurred_at": occurred_at.isoformat(),
        "data": data,
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dates=st.lists(any_date, min_size=6, max_size=6), instants=st.lists(any_instant, min_size=7, max_size=7))
async def test_whatever_the_rules_accept_is_projected_and_reported(
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    owner: asyncpg.Connection,
    dates: list[dt.date],
    instants: list[dt.datetime],
) -> None:
    programme_id, _admin = await create_programme(
        owner, name="Edges", admin_email=f"e{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    counselor = await create_user(
        owner, programme_id=programme_id, email=f"c{uuid.uuid4().hex}@x.org", role="counselor", password="x" * 12
    )
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    contact, employer = f"contact-{uuid.uuid4()}", f"employer-{uuid.uuid4()}"
    participant = f"participant-{uuid.uuid4()}"
    employer_id, contact_id = employer.removeprefix("employer-"), contact.removeprefix("contact-")
    outreach, job = str(uuid.uuid4()), str(uuid.uuid4())
    enrolled_on, release, start, verified, ended, exited = (d.isoformat() for d in dates)
    lines = [
        _line(employer, "employer_added", {"name": "E"}, SANE),
        _line(contact, "contact_added", {"name": "C", "employer_id": employer_id}, SANE),
        _line(
            participant,
            "participant_enrolled",
            {
                "enrolled_on": enrolled_on,
                "counselor_id": str(counselor),
                "profile": {"display_name": "P", "release_date": release},
            },
            instants[1],
        ),
        _line(
            participant,
            "outreach_sent",
            {"outreach_id": outreach, "contact_id": contact_id, "channel": "email", "purpose": "ask_for_referral"},
            instants[2],
        ),
        _line(participant, "response_received", {"outreach_id": outreach, "outcome": "positive"}, instants[3]),
        _line(
            participant,
            "hired",
            {
                "job_id": job,
                "employer_id": employer_id,
                "title": "Cook",
                "start_date": start,
                "source": "referral",
                "via_contact_id": contact_id,
            },
            instants[4],
        ),
        _line(
            participant,
            "employment_verified",
            {"job_id": job, "verified_on": verified, "method": "pay_stub"},
            instants[5],
        ),
        _line(participant, "participant_exited", {"exited_on": exited, "reason": "employed"}, instants[6]),
        _line(participant, "job_ended", {"job_id": job, "ended_on": ended, "reason": "quit"}, instants[6]),
    ]
    accepted: list[dict[str, Any]] = []
    for line in lines:
        try:
            await recorder.record(programme_id, [incoming(line)], Metadata(programme_id=programme_id))
        except RuleViolation:
            continue
        accepted.append(line)

    store = EventStore(worker_pool)
    for projection, table in PROJECTIONS.values():
        await catch_up(store, projection, table=table, settle_seconds=30)
    assert [h for h in await holds(worker_pool) if h.programme_id == programme_id] == []

    facts: Facts = await read_models.load_facts_of(worker_pool, programme_id, None)
    looking_from = {TODAY, TODAY + DATES_AHEAD, EARLIEST, min(dates), max(dates)}
    looking_from = {d for d in looking_from if EARLIEST <= d <= TODAY + DATES_AHEAD}
    participant_id = uuid.UUID(participant.removeprefix("participant-"))
    for as_of in sorted(looking_from):
        for zone in ZONES:
            params = ReportParams(from_date=EARLIEST, to_date=as_of, as_of=as_of, time_zone=zone)
            outcome_report(facts, params)
            response_rates(facts, params, "week")
            view = ViewParams(as_of=as_of, time_zone=zone)
            programme_funnel(facts, view)
            follow_up_queue(facts, FollowUpParams(as_of=as_of, time_zone=zone))
            timeline(facts, participant_id, view)
            relationships(facts, participant_id, view)
            participant_pipeline(facts, participant_id, view)
    assert len(accepted) >= 2  # the directory's records at least: the property is about what was accepted
