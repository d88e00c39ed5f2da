"""Every append rule of events.md, through the API: 4xx naming the field, and nothing stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api, Tenant, envelope, new_id


class Record:
    """A participant with one of everything, for rules to be broken against."""

    def __init__(
        self,
        participant: str,
        contact: str,
        employer: str,
        outreach: str,
        application: str,
        job: str,
        referral: str,
        voided_outreach: str,
        void_event: str,
        enrol_event: str,
    ) -> None:
        self.participant = participant
        self.contact = contact
        self.employer = employer
        self.outreach = outreach
        self.application = application
        self.job = job
        self.referral = referral
        self.voided_outreach = voided_outreach
        self.void_event = void_event
        self.enrol_event = enrol_event


@pytest.fixture
async def record(api: Api, tenant: Tenant) -> Record:
    contact = await api.new_contact()
    employer = await api.new_employer()
    participant, outreach, application, job, referral, voided_outreach = (new_id() for _ in range(6))
    void_event, enrol_event, voided_outreach_event = new_id(), new_id(), new_id()
    events = [
        envelope(
            "participant_enrolled",
            {
                "enrolled_on": "2026-03-01",
                "counselor_id": str(tenant.counselor_id),
                "profile": {"display_name": "Test Person"},
            },
            occurred_at="2026-03-01T09:00:00Z",
            event_id=enrol_event,
        ),
        envelope(
            "outreach_sent",
            {"outreach_id": outreach, "contact_id": contact, "channel": "email", "purpose": "introduction"},
            occurred_at="2026-03-02T10:00:00Z",
        ),
        envelope(
            "outreach_sent",
            {"outreach_id": voided_outreach, "contact_id": contact, "channel": "phone", "purpose": "introduction"},
            occurred_at="2026-03-02T10:00:00Z",
            event_id=voided_outreach_event,
        ),
        envelope(
            "entry_voided",
            {"voided_event_id": voided_outreach_event, "reason": "wrong person"},
            occurred_at="2026-03-02T11:00:00Z",
            event_id=void_event,
        ),
        envelope(
            "referral_made",
            {"referral_id": referral, "contact_id": contact, "employer_id": employer},
            occurred_at="2026-03-03T10:00:00Z",
        ),
        envelope(
            "application_submitted",
            {
                "application_id": application,
                "employer_id": employer,
                "position": "Cook",
                "route": "referral",
                "referral_id": referral,
            },
            occurred_at="2026-03-04T10:00:00Z",
        ),
        envelope(
            "hired",
            {
                "job_id": job,
                "employer_id": employer,
                "title": "Cook",
                "start_date": "2026-03-10",
                "source": "referral",
                "application_id": application,
            },
            occurred_at="2026-03-08T10:00:00Z",
        ),
    ]
    response = await api.record("participant", participant, {"events": events})
    assert response.status_code == 201, response.text
    return Record(
        participant, contact, employer, outreach, application, job, referral, voided_outreach, void_event, enrol_event
    )


def _cases(r: Record) -> list[tuple[str, str, str, dict[str, Any], str]]:
    """(name, stream kind, record id, envelope, the field the error must name)."""
    p = r.participant
    stranger = new_id()
    return [
        ("unknown type", "participant", p, envelope("outreach_deleted", {}), "type"),
        (
            "unknown field",
            "participant",
            p,
            envelope("response_received", {"outreach_id": r.outreach, "outcome": "positive", "mood": "good"}),
            "data.mood",
        ),
        (
            "wrong enum value",
            "participant",
            p,
            envelope("response_received", {"outreach_id": r.outreach, "outcome": "maybe"}),
            "data.outcome",
        ),
        (
            "missing required field",
            "participant",
            p,
            envelope("response_received", {"outreach_id": r.outreach}),
            "data.outcome",
        ),
        (
            "occurred_at without offset",
            "participant",
            p,
            {
                "type": "participant_exited",
                "occurred_at": "2026-03-05T10:00:00",
                "data": {"exited_on": "2026-03-05", "reason": "completed"},
            },
            "occurred_at",
        ),
        (
            "occurred_at over a day ahead",
            "participant",
            p,
            envelope("interview_held", {"application_id": r.application}, occurred_at="2099-01-01T00:00:00Z"),
            "occurred_at",
        ),
        (
            "occurred_at in year 1",
            "participant",
            p,
            envelope("job_search_objective_set", {"target_titles": ["t"]}, occurred_at="0001-01-01T00:00:00Z"),
            "occurred_at",
        ),
        (
            "occurred_at before 1900",
            "participant",
            p,
            envelope("interview_held", {"application_id": r.application}, occurred_at="1899-12-31T23:59:59Z"),
            "occurred_at",
        ),
        (
            "date field at the calendar's end",
            "participant",
            p,
            envelope("employment_verified", {"job_id": r.job, "verified_on": "9999-12-31", "method": "pay_stub"}),
            "data.verified_on",
        ),
        (
            "date field in year 1",
            "participant",
            p,
            envelope("participant_exited", {"exited_on": "0001-01-01", "reason": "completed"}),
            "data.exited_on",
        ),
        (
            "nested date field decades ahead",
            "participant",
            new_id(),
            envelope(
                "participant_enrolled",
                {
                    "enrolled_on": "2026-03-01",
                    "counselor_id": new_id(),
                    "profile": {"display_name": "X", "release_date": "2090-01-01"},
                },
            ),
            "data.profile.release_date",
        ),
        (
            "money as a float",
            "participant",
            p,
            envelope(
                "promoted", {"job_id": r.job, "promoted_on": "2026-04-01", "new_title": "Lead", "new_hourly_wage": 19.5}
            ),
            "data.new_hourly_wage",
        ),
        (
            "stream opened by another event",
            "participant",
            new_id(),
            envelope(
                "outreach_sent",
                {"outreach_id": new_id(), "contact_id": r.contact, "channel": "email", "purpose": "introduction"},
            ),
            "type",
        ),
        (
            "creation event twice",
            "participant",
            p,
            envelope(
                "participant_enrolled",
                {"enrolled_on": "2026-03-01", "counselor_id": new_id(), "profile": {"display_name": "X"}},
            ),
            "type",
        ),
        (
            "event of another stream kind",
            "contact",
            r.contact,
            envelope(
                "outreach_sent",
                {"outreach_id": new_id(), "contact_id": r.contact, "channel": "email", "purpose": "introduction"},
            ),
            "type",
        ),
        (
            "unknown contact",
            "participant",
            p,
            envelope(
                "outreach_sent",
                {"outreach_id": new_id(), "contact_id": stranger, "channel": "email", "purpose": "introduction"},
            ),
            "data.contact_id",
        ),
        (
            "unknown employer",
            "participant",
            p,
            envelope(
                "application_submitted",
                {"application_id": new_id(), "employer_id": stranger, "position": "Cook", "route": "online"},
            ),
            "data.employer_id",
        ),
        (
            "unknown counselor",
            "participant",
            p,
            envelope("counselor_assigned", {"counselor_id": stranger}),
            "data.counselor_id",
        ),
        (
            "unknown job",
            "participant",
            p,
            envelope("job_ended", {"job_id": stranger, "ended_on": "2026-04-01", "reason": "quit"}),
            "data.job_id",
        ),
        (
            "unknown outreach",
            "participant",
            p,
            envelope("response_received", {"outreach_id": stranger, "outcome": "positive"}),
            "data.outreach_id",
        ),
        (
            "follow-up of unknown outreach",
            "participant",
            p,
            envelope(
                "outreach_sent",
                {
                    "outreach_id": new_id(),
                    "contact_id": r.contact,
                    "channel": "email",
                    "purpose": "follow_up",
                    "follow_up_of": stranger,
                },
            ),
            "data.follow_up_of",
        ),
        (
            "unknown application",
            "participant",
            p,
            envelope("interview_held", {"application_id": stranger}),
            "data.application_id",
        ),
        (
            "unknown referral",
            "participant",
            p,
            envelope(
                "application_submitted",
                {
                    "application_id": new_id(),
                    "employer_id": r.employer,
                    "position": "Cook",
                    "route": "referral",
                    "referral_id": stranger,
                },
            ),
            "data.referral_id",
        ),
        (
            "response to a voided outreach",
            "participant",
            p,
            envelope("response_received", {"outreach_id": r.voided_outreach, "outcome": "positive"}),
            "data.outreach_id",
        ),
        (
            "reused outreach id",
            "participant",
            p,
            envelope(
                "outreach_sent",
                {"outreach_id": r.outreach, "contact_id": r.contact, "channel": "email", "purpose": "introduction"},
            ),
            "data.outreach_id",
        ),
        (
            "job ended before it started",
            "participant",
            p,
            envelope("job_ended", {"job_id": r.job, "ended_on": "2026-03-09", "reason": "quit"}),
            "data.ended_on",
        ),
        (
            "response before its outreach",
            "participant",
            p,
            envelope(
                "response_received",
                {"outreach_id": r.outreach, "outcome": "positive"},
                occurred_at="2026-03-01T10:00:00Z",
            ),
            "occurred_at",
        ),
        (
            "void of an unknown event",
            "participant",
            p,
            envelope("entry_voided", {"voided_event_id": stranger, "reason": "typo"}),
            "data.voided_event_id",
        ),
        (
            "void twice",
            "participant",
            p,
            envelope(
                "entry_voided", {"voided_event_id": r.void_event.replace(r.void_event, r.void_event), "reason": "again"}
            ),
            "data.voided_event_id",
        ),
    ]


def _case_ids() -> list[str]:
    return [c[0] for c in _cases(Record(*(new_id() for _ in range(10))))]


@pytest.mark.parametrize("case", _case_ids())
async def test_a_broken_rule_is_refused_naming_the_field_and_stores_nothing(
    api: Api, record: Record, case: str
) -> None:
    _, kind, record_id, body, field = next(c for c in _cases(record) if c[0] == case)
    before = await api.get(f"/v1/participants/{record.participant}/events")
    response = await api.record(kind, record_id, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert [e["field"] for e in problem["errors"]] == [field], problem
    after = await api.get(f"/v1/participants/{record.participant}/events")
    assert after.json() == before.json()


async def test_activity_after_exit_is_refused_but_retention_follow_up_is_not(api: Api, record: Record) -> None:
    exited = envelope(
        "participant_exited", {"exited_on": "2026-05-01", "reason": "employed"}, occurred_at="2026-05-01T10:00:00Z"
    )
    assert (await api.record("participant", record.participant, exited)).status_code == 201
    outreach = envelope(
        "outreach_sent",
        {"outreach_id": new_id(), "contact_id": record.contact, "channel": "email", "purpose": "progress_update"},
        occurred_at="2026-05-02T10:00:00Z",
    )
    refused = await api.record("participant", record.participant, outreach)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "type"
    verified = envelope(
        "employment_verified",
        {"job_id": record.job, "verified_on": "2026-06-10", "method": "pay_stub"},
        occurred_at="2026-06-10T10:00:00Z",
    )
    assert (await api.record("participant", record.participant, verified)).status_code == 201


async def test_a_voided_void_is_refused(api: Api, record: Record) -> None:
    body = envelope("entry_voided", {"voided_event_id": record.void_event, "reason": "undo"})
    response = await api.record("participant", record.participant, body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "data.voided_event_id"


async def test_a_batch_with_one_bad_event_stores_nothing(api: Api, record: Record, tenant: Tenant) -> None:
    new_participant = new_id()
    batch = {
        "events": [
            {
                "stream_id": f"participant-{new_participant}",
                **envelope(
                    "participant_enrolled",
                    {
                        "enrolled_on": "2026-03-01",
                        "counselor_id": str(tenant.counselor_id),
                        "profile": {"display_name": "Y"},
                    },
                ),
            },
            {
                "stream_id": f"participant-{record.participant}",
                **envelope("interview_held", {"application_id": record.application}),
            },
            {
                "stream_id": f"participant-{record.participant}",
                **envelope("response_received", {"outreach_id": record.outreach, "outcome": "nope"}),
            },
        ]
    }
    before = (await api.get(f"/v1/participants/{record.participant}/events")).json()
    response = await api.post("/v1/events:batch", batch)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events[2].data.outcome"
    assert (await api.get(f"/v1/participants/{record.participant}/events")).json() == before
    assert (await api.get(f"/v1/participants/{new_participant}/events")).status_code == 404


async def test_a_batch_rule_violation_names_the_event_and_stores_nothing(
    api: Api, record: Record, tenant: Tenant
) -> None:
    new_participant = new_id()
    batch = {
        "events": [
            {
                "stream_id": f"participant-{new_participant}",
                **envelope(
                    "participant_enrolled",
                    {
                        "enrolled_on": "2026-03-01",
                        "counselor_id": str(tenant.counselor_id),
                        "profile": {"display_name": "Y"},
                    },
                ),
            },
            {
                "stream_id": f"participant-{record.participant}",
                **envelope("job_ended", {"job_id": new_id(), "ended_on": "2026-04-01", "reason": "quit"}),
            },
        ]
    }
    response = await api.post("/v1/events:batch", batch)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events[1].data.job_id"
    assert (await api.get(f"/v1/participants/{new_participant}/events")).status_code == 404
