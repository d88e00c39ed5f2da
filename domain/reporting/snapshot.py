"""What one participant's facts amount to as of a report: enrolment, counselor, outreach answers, jobs, exit.

Each function reads one participant's records once. What a voided or not-yet-happened
event created does not exist, so events about it and references to it are dropped
here, in one place, for every figure.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping

import msgspec

from domain.reporting.facts import (
    Contact,
    Exit,
    Hire,
    JobEnd,
    Outreach,
    Participant,
    ParticipantFacts,
)
from domain.reporting.scope import AsOf


class OutreachAnswer(msgspec.Struct, kw_only=True, gc=False):
    """An outreach that exists as of the report, with the earliest of its counted responses."""

    outreach: Outreach
    first_response_at: dt.datetime | None = None
    positive: bool = False
    """Whether any counted response was positive (not only the earliest)."""


class Job(msgspec.Struct, kw_only=True, gc=False):
    """A ``hired`` that exists as of the report, with what is known about it by then."""

    hire: Hire
    end: JobEnd | None = None
    """Its earliest counted ``job_ended`` with ``ended_on`` on or before ``as_of``."""
    verified_on: list[dt.date] = msgspec.field(default_factory=list)
    promoted_on: list[dt.date] = msgspec.field(default_factory=list)


def enrolment_as_of(bundle: ParticipantFacts, as_of: AsOf) -> Participant | None:
    """The participant's enrolment if the participant exists as of the report (enrolled, not voided)."""
    enrolment = bundle.enrolment
    if enrolment is None or not as_of.counts(enrolment):
        return None
    return enrolment


def counselor_as_of(bundle: ParticipantFacts, enrolment: Participant, as_of: AsOf) -> uuid.UUID:
    """The latest counted ``counselor_assigned`` (ties: higher position), else the enrolment's counselor."""
    latest = None
    for assignment in bundle.counselor_assignments:
        if as_of.counts(assignment) and (
            latest is None or (assignment.occurred_at, assignment.position) > (latest.occurred_at, latest.position)
        ):
            latest = assignment
    return enrolment.counselor_id if latest is None else latest.counselor_id


def outreach_answers(bundle: ParticipantFacts, as_of: AsOf) -> dict[uuid.UUID, OutreachAnswer]:
    """Every counted outreach by ``outreach_id``, with its counted responses folded in."""
    answers: dict[uuid.UUID, OutreachAnswer] = {}
    for outreach in bundle.outreaches:
        if as_of.counts(outreach):
            known = answers.get(outreach.outreach_id)
            if known is None or outreach.position < known.outreach.position:
                answers[outreach.outreach_id] = OutreachAnswer(outreach=outreach)
    if not answers:
        return answers
    for response in bundle.responses:
        answer = answers.get(response.outreach_id)
        if answer is None or not as_of.counts(response):
            continue
        if answer.first_response_at is None or response.occurred_at < answer.first_response_at:
            answer.first_response_at = response.occurred_at
        if response.outcome == "positive":
            answer.positive = True
    return answers


def attempt_numbers(answers: Mapping[uuid.UUID, OutreachAnswer]) -> dict[uuid.UUID, int]:
    """Attempt number of each outreach: 1 without a (still existing) ``follow_up_of``, else 1 + its parent's."""
    attempts: dict[uuid.UUID, int] = {}
    for outreach_id in answers:
        if outreach_id in attempts:
            continue
        chain = [outreach_id]
        seen = {outreach_id}
        parent = answers[outreach_id].outreach.follow_up_of
        while parent is not None and parent in answers and parent not in attempts and parent not in seen:
            chain.append(parent)
            seen.add(parent)
            parent = answers[parent].outreach.follow_up_of
        # A parent that does not exist (or a loop, which the append rules make impossible) starts a new thread.
        number = attempts[parent] if parent is not None and parent in attempts else 0
        for member in reversed(chain):
            number += 1
            attempts[member] = number
    return attempts


def jobs_as_of(bundle: ParticipantFacts, as_of: AsOf) -> dict[uuid.UUID, Job]:
    """Every counted hire by ``job_id``, with its counted end, verifications and promotions dated by ``as_of``."""
    jobs: dict[uuid.UUID, Job] = {}
    for hire in bundle.hires:
        if as_of.counts(hire):
            known = jobs.get(hire.job_id)
            if known is None or hire.position < known.hire.position:
                jobs[hire.job_id] = Job(hire=hire)
    if not jobs:
        return jobs
    day = as_of.date
    for job_end in bundle.job_ends:
        job = jobs.get(job_end.job_id)
        if job is None or job_end.ended_on > day or not as_of.counts(job_end):
            continue
        if job.end is None or (job_end.ended_on, job_end.position) < (job.end.ended_on, job.end.position):
            job.end = job_end
    for verification in bundle.verifications:
        job = jobs.get(verification.job_id)
        if job is not None and verification.verified_on <= day and as_of.counts(verification):
            job.verified_on.append(verification.verified_on)
    for promotion in bundle.promotions:
        job = jobs.get(promotion.job_id)
        if job is not None and promotion.promoted_on <= day and as_of.counts(promotion):
            job.promoted_on.append(promotion.promoted_on)
    return jobs


def first_job(jobs: Mapping[uuid.UUID, Job], as_of: AsOf) -> Job | None:
    """The job with the earliest ``start_date`` on or before ``as_of`` (ties: the lower position)."""
    first = None
    for job in jobs.values():
        hire = job.hire
        if hire.start_date <= as_of.date and (
            first is None or (hire.start_date, hire.position) < (first.hire.start_date, first.hire.position)
        ):
            first = job
    return first


def exit_as_of(bundle: ParticipantFacts, as_of: AsOf) -> Exit | None:
    """The counted ``participant_exited`` with the latest ``exited_on`` by ``as_of`` (ties: the higher position)."""
    latest = None
    for exit_ in bundle.exits:
        if (
            exit_.exited_on <= as_of.date
            and as_of.counts(exit_)
            and (latest is None or (exit_.exited_on, exit_.position) > (latest.exited_on, latest.position))
        ):
            latest = exit_
    return latest


def people_links(
    bundle: ParticipantFacts, jobs: Mapping[uuid.UUID, Job], contacts: Mapping[uuid.UUID, Contact], as_of: AsOf
) -> set[uuid.UUID]:
    """The participant's People Links: contacts whose referral an application names, or via whom a job started."""
    links: set[uuid.UUID] = set()
    referrers: dict[uuid.UUID, uuid.UUID] = {}
    for referral in bundle.referrals:
        if as_of.counts(referral):
            referrers.setdefault(referral.referral_id, referral.contact_id)
    if referrers:
        for application in bundle.applications:
            referral_id = application.referral_id
            if referral_id is not None and referral_id in referrers and as_of.counts(application):
                links.add(referrers[referral_id])
    for job in jobs.values():
        via = job.hire.via_contact_id
        if via is not None and job.hire.start_date <= as_of.date:
            links.add(via)
    return {contact_id for contact_id in links if _contact_exists(contacts.get(contact_id), as_of)}


def _contact_exists(contact: Contact | None, as_of: AsOf) -> bool:
    return contact is not None and as_of.counts(contact)
