"""What one participant's facts amount to as of a report: enrolment, counselor, activity, replies, jobs, exit, links.

Each function reads one participant's records once, and skips checking each record
when all of them count (``AsOf.counts_all``). What a voided or not-yet-happened event
created does not exist, so events about it and references to it are dropped here, in
one place, for every figure.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final, TypeVar

import msgspec

from domain.reporting.facts import (
    Application,
    ApplicationClosure,
    Contact,
    Exit,
    Hire,
    Interview,
    JobEnd,
    Meeting,
    Outreach,
    Participant,
    ParticipantFacts,
    Record,
    Referral,
    RelationshipNoted,
    Response,
)
from domain.reporting.scope import AsOf, R, ReportParams

T = TypeVar("T")


ASKS: Final[frozenset[str]] = frozenset({"ask_for_meeting", "ask_for_referral"})
"""Outreach purposes that ask a contact for something (a meeting, a referral): the pipeline counts them, and
the follow-up queue asks that a contact asked before a hire hears of it."""


class ViewParams(msgspec.Struct, frozen=True, kw_only=True):
    """What a participant's views, the follow-up queue and the funnel look from, and whom they cover.

    Unlike a report they have no period: everything up to ``as_of`` (and ``as_of_position``) counts.
    """

    as_of: dt.date
    time_zone: dt.tzinfo = dt.UTC
    as_of_position: int | None = None
    as_of_horizon: int | None = None
    cohort: str | None = None
    counselor_id: uuid.UUID | None = None


def looking_from(params: ViewParams) -> AsOf:
    """What counts for a view: the same rules as a report's, from the end of ``as_of``."""
    return AsOf(
        ReportParams(
            from_date=params.as_of,
            to_date=params.as_of,
            as_of=params.as_of,
            time_zone=params.time_zone,
            as_of_position=params.as_of_position,
            as_of_horizon=params.as_of_horizon,
        )
    )


class Activity(msgspec.Struct, kw_only=True, gc=False):
    """A participant's counted networking and applications as of the report.

    Events about what does not exist (a response to an outreach, an interview or a
    closing of an application, that does not count) are dropped, so what is here counts.
    """

    relationships: Sequence[RelationshipNoted]
    outreaches: Sequence[Outreach]
    responses: Sequence[Response]
    """Responses to counted outreaches."""
    meetings: Sequence[Meeting]
    referrals: Sequence[Referral]
    applications: Sequence[Application]
    interviews: Sequence[Interview]
    """Interviews of counted applications."""
    closures: Sequence[ApplicationClosure]
    """Closings of counted applications."""


def _counted(records: Sequence[R], all_count: bool, as_of: AsOf) -> Sequence[R]:
    return records if all_count else as_of.counted(records)


def activity_as_of(bundle: ParticipantFacts, as_of: AsOf) -> Activity:
    """The participant's counted relationships, outreaches, responses, meetings, referrals and applications."""
    all_count = as_of.counts_all(bundle)
    outreaches = _counted(bundle.outreaches, all_count, as_of)
    applications = _counted(bundle.applications, all_count, as_of)
    sent = {outreach.outreach_id.int for outreach in outreaches}
    applied = {application.application_id.int for application in applications}
    return Activity(
        relationships=_counted(bundle.relationships, all_count, as_of),
        outreaches=outreaches,
        responses=[
            response for response in _counted(bundle.responses, all_count, as_of) if response.outreach_id.int in sent
        ],
        meetings=_counted(bundle.meetings, all_count, as_of),
        referrals=_counted(bundle.referrals, all_count, as_of),
        applications=applications,
        interviews=[
            interview
            for interview in _counted(bundle.interviews, all_count, as_of)
            if interview.application_id.int in applied
        ],
        closures=[
            closure for closure in _counted(bundle.closures, all_count, as_of) if closure.application_id.int in applied
        ],
    )


def removed_as_of(record: Record, as_of: AsOf) -> bool:
    """Whether the record's event happened but a counted void has removed it (a contact, say) by the report."""
    return as_of.holds(record.position, record.tx) and record.occurred_at < as_of.end and not as_of.counts(record)


class OutreachReplies(msgspec.Struct, kw_only=True, gc=False):
    """A participant's counted outreaches with what their counted responses say, keyed by ``outreach_id.int``.

    Keys are the ids' integers because hashing an int is much cheaper than hashing a
    ``uuid.UUID``, and a dashboard looks up every outreach. A response to an outreach
    that does not count keys an outreach nobody looks up, so it needs no filtering.
    """

    outreaches: Sequence[Outreach]
    first_reply_at: dict[int, dt.datetime]
    """Earliest counted response of each answered outreach."""
    positive: set[int]
    """Outreaches with any counted positive response."""


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


def counted_outreaches(bundle: ParticipantFacts, as_of: AsOf) -> Sequence[Outreach]:
    """The participant's outreaches that count as of the report."""
    return bundle.outreaches if as_of.counts_all(bundle) else as_of.counted(bundle.outreaches)


def counted_responses(bundle: ParticipantFacts, as_of: AsOf) -> Sequence[Response]:
    """The participant's responses that count as of the report (whether their outreach does is not checked)."""
    return bundle.responses if as_of.counts_all(bundle) else as_of.counted(bundle.responses)


def _occurred_at(record: Response) -> dt.datetime:
    return record.occurred_at


def outreach_replies(bundle: ParticipantFacts, as_of: AsOf) -> OutreachReplies:
    """Every counted outreach, with the earliest and any positive counted response of each."""
    outreaches = counted_outreaches(bundle, as_of)
    if not outreaches:
        return OutreachReplies(outreaches=outreaches, first_reply_at={}, positive=set())
    responses = counted_responses(bundle, as_of)
    # Latest first, so the earliest response of an outreach is the one left in the dict.
    latest_first = sorted(responses, key=_occurred_at, reverse=True)
    return OutreachReplies(
        outreaches=outreaches,
        first_reply_at={response.outreach_id.int: response.occurred_at for response in latest_first},
        positive={response.outreach_id.int for response in responses if response.outcome == "positive"},
    )


def walk_threads(outreaches: Sequence[Outreach], extend: Callable[[T | None, Outreach], T]) -> dict[int, T]:
    """Each outreach's value along its follow-up chain, by ``outreach_id.int``: ``extend(parent's value, outreach)``.

    The one walk of follow-up chains. A ``follow_up_of`` naming an outreach not among ``outreaches`` (one that
    does not count) is treated as absent: the thread starts there, and so would a loop (which the append rules
    make impossible). Each thread extends its parent's, so this is linear.
    """
    by_key = {outreach.outreach_id.int: outreach for outreach in outreaches}
    done: dict[int, T] = {}
    for key in by_key:
        chain: list[Outreach] = []
        seen: set[int] = set()
        current: int | None = key
        while current is not None and current in by_key and current not in done and current not in seen:
            seen.add(current)
            outreach = by_key[current]
            chain.append(outreach)
            current = None if outreach.follow_up_of is None else outreach.follow_up_of.int
        parent = done.get(current) if current is not None and current not in seen else None
        for outreach in reversed(chain):
            parent = extend(parent, outreach)
            done[outreach.outreach_id.int] = parent
    return done


def attempt_numbers(outreaches: Sequence[Outreach]) -> dict[int, int]:
    """Attempt number of each outreach (by ``outreach_id.int``): 1 + its parent's, 1 without an existing parent."""
    return walk_threads(outreaches, lambda parent, _: 1 if parent is None else parent + 1)


def jobs_as_of(bundle: ParticipantFacts, as_of: AsOf) -> dict[uuid.UUID, Job]:
    """Every counted hire by ``job_id``, with its counted end, verifications and promotions dated by ``as_of``.

    Job ids are unique within a participant's stream (the append rules refuse a reused id,
    even a voided one's), so the only question about an event of a job is whether the
    job exists as of the report.
    """
    if not bundle.hires:
        return {}
    all_count = as_of.counts_all(bundle)
    hires = bundle.hires if all_count else as_of.counted(bundle.hires)
    jobs = {hire.job_id: Job(hire=hire) for hire in hires}
    if not jobs:
        return jobs
    day = as_of.date
    for job_end in bundle.job_ends if all_count else as_of.counted(bundle.job_ends):
        job = jobs.get(job_end.job_id)
        if job is None or job_end.ended_on > day:
            continue
        if job.end is None or (job_end.ended_on, job_end.position) < (job.end.ended_on, job.end.position):
            job.end = job_end
    for verification in bundle.verifications if all_count else as_of.counted(bundle.verifications):
        job = jobs.get(verification.job_id)
        if job is not None and verification.verified_on <= day:
            job.verified_on.append(verification.verified_on)
    for promotion in bundle.promotions if all_count else as_of.counted(bundle.promotions):
        job = jobs.get(promotion.job_id)
        if job is not None and promotion.promoted_on <= day:
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
    return set(people_links_since(bundle, jobs, contacts, as_of))


def _link_sources(
    bundle: ParticipantFacts, jobs: Mapping[uuid.UUID, Job], as_of: AsOf
) -> Iterator[tuple[uuid.UUID, Application | Hire]]:
    """Each (contact, what makes them a People Link): a counted application naming their counted referral,
    or a job found via them that has started; whether the contact exists is the caller's to check."""
    referring = bundle.referring_applications() if bundle.referrals else None
    if referring:
        # Keyed by the ids' integers: hashing an int is much cheaper than hashing a ``uuid.UUID``.
        referrers: dict[int, uuid.UUID] = {}
        for referral in bundle.referrals:
            if as_of.counts(referral):
                referrers.setdefault(referral.referral_id.int, referral.contact_id)
        if referrers:
            for application in referring:
                referral_id = application.referral_id
                if referral_id is not None and referral_id.int in referrers and as_of.counts(application):
                    yield referrers[referral_id.int], application
    for job in jobs.values():
        via = job.hire.via_contact_id
        if via is not None and job.hire.start_date <= as_of.date:
            yield via, job.hire


def people_link_count(
    bundle: ParticipantFacts, jobs: Mapping[uuid.UUID, Job], contacts: Mapping[uuid.UUID, Contact], as_of: AsOf
) -> int:
    """How many People Links the participant has (``people_links`` without the day each became one)."""
    linked = {contact_id for contact_id, _ in _link_sources(bundle, jobs, as_of)}
    return sum(1 for contact_id in linked if _contact_exists(contacts.get(contact_id), as_of))


def people_links_since(
    bundle: ParticipantFacts, jobs: Mapping[uuid.UUID, Job], contacts: Mapping[uuid.UUID, Contact], as_of: AsOf
) -> dict[uuid.UUID, dt.date]:
    """Each People Link of the participant with the day it became one.

    That day is the earliest of the dates of the applications naming the contact's
    referral and the start dates of the jobs found via the contact.
    """
    since: dict[uuid.UUID, dt.date] = {}
    for contact_id, source in _link_sources(bundle, jobs, as_of):
        day = source.start_date if isinstance(source, Hire) else as_of.local_date(source.occurred_at)
        known = since.get(contact_id)
        if known is None or day < known:
            since[contact_id] = day
    return {contact_id: day for contact_id, day in since.items() if _contact_exists(contacts.get(contact_id), as_of)}


def _contact_exists(contact: Contact | None, as_of: AsOf) -> bool:
    return contact is not None and as_of.counts(contact)
