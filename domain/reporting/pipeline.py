"""The participant pipeline (how far one participant has come) and the programme funnel (how many came how far).

Dates of firsts are the calendar dates, in the programme's time zone, of the
earliest counted event of each kind, except the first hire: that is the
``start_date`` of the participant's *first job* (the ``hired`` with the earliest
``start_date`` on or before ``as_of``), as in the outcome report, since a job
that has not started is not a placement yet.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

import msgspec

from domain import events as ev
from domain.reporting.facts import Facts, Participant, ParticipantFacts, Record
from domain.reporting.outcomes import MILESTONES
from domain.reporting.scope import AsOf
from domain.reporting.snapshot import (
    ASKS,
    Job,
    ViewParams,
    activity_as_of,
    counselor_as_of,
    enrolment_as_of,
    exit_as_of,
    first_job,
    jobs_as_of,
    looking_from,
)

GIVES: Final[frozenset[str]] = frozenset({"offer_help", "congratulations", "thank_you"})


class CurrentJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job the participant holds as of ``as_of`` and the retention milestones it has reached."""

    job_id: uuid.UUID
    employer_id: uuid.UUID
    start_date: dt.date
    source: ev.HireSource
    hourly_wage: Decimal | None
    milestones_reached: list[int]
    """Of 30, 90, 180: those with an ``employment_verified`` of this job on or after ``start_date`` + N days."""


class Pipeline(msgspec.Struct, frozen=True, kw_only=True):
    """One participant's way through the programme, as of ``as_of``."""

    participant_id: uuid.UUID
    counselor_id: uuid.UUID
    cohort: str | None
    enrolled_on: dt.date
    first_outreach_on: dt.date | None
    first_response_on: dt.date | None
    first_meeting_on: dt.date | None
    first_referral_on: dt.date | None
    first_application_on: dt.date | None
    first_interview_on: dt.date | None
    first_hire_on: dt.date | None
    """The first job's ``start_date``."""
    jobs: int
    """Jobs started on or before ``as_of``."""
    current_job: CurrentJob | None
    """The latest-started job with no ``job_ended`` by ``as_of`` (ties: the higher position)."""
    exited_on: dt.date | None
    gives: int
    """Outreaches offering help, congratulating or thanking."""
    asks: int
    """Outreaches asking for a meeting or a referral."""


class Funnel(msgspec.Struct, frozen=True, kw_only=True):
    """How many participants reached each step of the pipeline, over those existing as of ``as_of``."""

    enrolled: int
    outreach: int
    response: int
    meeting: int
    referral: int
    application: int
    interview: int
    hire: int


def _first_on(records: Iterable[Record], as_of: AsOf) -> dt.date | None:
    earliest = min((record.occurred_at for record in records), default=None)
    return None if earliest is None else as_of.local_date(earliest)


def _current_job(jobs: Mapping[uuid.UUID, Job], as_of: AsOf) -> CurrentJob | None:
    current: Job | None = None
    for job in jobs.values():
        hire = job.hire
        if (
            job.end is None
            and hire.start_date <= as_of.date
            and (current is None or (hire.start_date, hire.position) > (current.hire.start_date, current.hire.position))
        ):
            current = job
    if current is None:
        return None
    hire = current.hire
    latest_verified = max(current.verified_on, default=None)
    return CurrentJob(
        job_id=hire.job_id,
        employer_id=hire.employer_id,
        start_date=hire.start_date,
        source=hire.source,
        hourly_wage=hire.hourly_wage,
        milestones_reached=[
            days
            for days in MILESTONES
            if latest_verified is not None and latest_verified >= hire.start_date + dt.timedelta(days=days)
        ],
    )


def _pipeline(bundle: ParticipantFacts, enrolment: Participant, counselor_id: uuid.UUID, as_of: AsOf) -> Pipeline:
    activity = activity_as_of(bundle, as_of)
    jobs = jobs_as_of(bundle, as_of)
    first = first_job(jobs, as_of)
    exit_ = exit_as_of(bundle, as_of)
    return Pipeline(
        participant_id=bundle.participant_id,
        counselor_id=counselor_id,
        cohort=enrolment.cohort,
        enrolled_on=enrolment.enrolled_on,
        first_outreach_on=_first_on(activity.outreaches, as_of),
        first_response_on=_first_on(activity.responses, as_of),
        first_meeting_on=_first_on(activity.meetings, as_of),
        first_referral_on=_first_on(activity.referrals, as_of),
        first_application_on=_first_on(activity.applications, as_of),
        first_interview_on=_first_on(activity.interviews, as_of),
        first_hire_on=None if first is None else first.hire.start_date,
        jobs=sum(job.hire.start_date <= as_of.date for job in jobs.values()),
        current_job=_current_job(jobs, as_of),
        exited_on=None if exit_ is None else exit_.exited_on,
        gives=sum(outreach.purpose in GIVES for outreach in activity.outreaches),
        asks=sum(outreach.purpose in ASKS for outreach in activity.outreaches),
    )


def participant_pipeline(facts: Facts, participant_id: uuid.UUID, params: ViewParams) -> Pipeline | None:
    """The participant's pipeline as of ``as_of``; ``None`` when the participant does not exist then.

    The view's cohort and counselor filters do not apply to one participant.
    """
    as_of = looking_from(params)
    bundle = facts.participants.get(participant_id)
    if bundle is None:
        return None
    enrolment = enrolment_as_of(bundle, as_of)
    if enrolment is None:
        return None
    return _pipeline(bundle, enrolment, counselor_as_of(bundle, enrolment, as_of), as_of)


def programme_funnel(facts: Facts, params: ViewParams) -> Funnel:
    """Participants existing as of ``as_of`` (of the cohort and counselor asked for), and how many reached each step."""
    as_of = looking_from(params)
    counts = dict.fromkeys(Funnel.__struct_fields__, 0)
    for bundle in facts.participants.values():
        enrolment = enrolment_as_of(bundle, as_of)
        if enrolment is None or (params.cohort is not None and enrolment.cohort != params.cohort):
            continue
        counselor_id = counselor_as_of(bundle, enrolment, as_of)
        if params.counselor_id is not None and counselor_id != params.counselor_id:
            continue
        pipeline = _pipeline(bundle, enrolment, counselor_id, as_of)
        counts["enrolled"] += 1
        counts["outreach"] += pipeline.first_outreach_on is not None
        counts["response"] += pipeline.first_response_on is not None
        counts["meeting"] += pipeline.first_meeting_on is not None
        counts["referral"] += pipeline.first_referral_on is not None
        counts["application"] += pipeline.first_application_on is not None
        counts["interview"] += pipeline.first_interview_on is not None
        counts["hire"] += pipeline.first_hire_on is not None
    return Funnel(**counts)
