"""A participant's timeline, and their relationship with each contact: its stage and its own timeline.

Both show what counts as of ``as_of``: a voided event, and an event about what a
voided event created (a response to a voided outreach, an interview of a voided
application, a verification of a voided job), is left out rather than shown
marked. The stream itself (``GET /v1/participants/{id}/events``) shows voids; these
views show the record as it stands, so a stage and the timeline beside it agree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Final, Literal, TypeAlias

import msgspec

from domain import events as ev
from domain.reporting.facts import (
    Application,
    ApplicationClosure,
    CounselorAssignment,
    Exit,
    Facts,
    Hire,
    Interview,
    JobEnd,
    Meeting,
    Outreach,
    Participant,
    ParticipantFacts,
    Promotion,
    Referral,
    RelationshipNoted,
    Response,
    Verification,
)
from domain.reporting.scope import AsOf
from domain.reporting.snapshot import (
    ViewParams,
    activity_as_of,
    enrolment_as_of,
    jobs_as_of,
    looking_from,
    people_links_since,
    removed_as_of,
)

Stage: TypeAlias = Literal["noted", "contacted", "engaged", "met", "referred", "people_link"]
STAGES: Final[tuple[Stage, ...]] = ("noted", "contacted", "engaged", "met", "referred", "people_link")
"""The stages of a relationship, in the order they are reached."""

EntryKind: TypeAlias = Literal[
    "participant_enrolled",
    "counselor_assigned",
    "relationship_noted",
    "outreach_sent",
    "response_received",
    "meeting_held",
    "referral_made",
    "application_submitted",
    "interview_held",
    "application_closed",
    "hired",
    "employment_verified",
    "promoted",
    "job_ended",
    "participant_exited",
]


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event of a timeline: its type (the wire name), when it happened, and the fields that say what it was.

    Only the fields its type carries are set (and serialised).
    """

    kind: EntryKind
    event_id: uuid.UUID
    occurred_at: dt.datetime
    position: int
    contact_id: uuid.UUID | None = None
    """Whom it names: the contact reached, answering, met, referring, or via whom a job came."""
    outreach_id: uuid.UUID | None = None
    channel: ev.Channel | None = None
    purpose: ev.Purpose | None = None
    follow_up_of: uuid.UUID | None = None
    outcome: str | None = None
    """A response's outcome, or an application's closing outcome."""
    meeting_id: uuid.UUID | None = None
    format: ev.MeetingFormat | None = None
    meeting_kind: ev.MeetingKind | None = None
    referral_id: uuid.UUID | None = None
    to_contact_id: uuid.UUID | None = None
    employer_id: uuid.UUID | None = None
    application_id: uuid.UUID | None = None
    route: ev.ApplicationRoute | None = None
    round: int | None = None
    job_id: uuid.UUID | None = None
    start_date: dt.date | None = None
    source: ev.HireSource | None = None
    hourly_wage: Decimal | None = None
    verified_on: dt.date | None = None
    method: ev.VerificationMethod | None = None
    promoted_on: dt.date | None = None
    ended_on: dt.date | None = None
    reason: str | None = None
    """Why a job ended or the participant exited."""
    exited_on: dt.date | None = None
    enrolled_on: dt.date | None = None
    counselor_id: uuid.UUID | None = None
    closeness: ev.Closeness | None = None
    how_known: ev.HowKnown | None = None


class Relationship(msgspec.Struct, frozen=True, kw_only=True):
    """A participant's relationship with one contact, as of ``as_of``."""

    contact_id: uuid.UUID
    stage: Stage
    """The furthest stage the counted events justify."""
    people_link: bool
    closeness: ev.Closeness | None
    """From the latest ``relationship_noted`` of the contact, if any."""
    how_known: ev.HowKnown | None
    timeline: list[TimelineEntry]
    """Every outreach, response, meeting, referral and hire naming the contact, in order.

    A referral names the contact who referred and its ``to_contact_id``; a hire names its ``via_contact_id``."""


def _outreach(outreach: Outreach) -> TimelineEntry:
    return TimelineEntry(
        kind="outreach_sent",
        event_id=outreach.event_id,
        occurred_at=outreach.occurred_at,
        position=outreach.position,
        contact_id=outreach.contact_id,
        outreach_id=outreach.outreach_id,
        channel=outreach.channel,
        purpose=outreach.purpose,
        follow_up_of=outreach.follow_up_of,
    )


def _response(response: Response, contact_id: uuid.UUID) -> TimelineEntry:
    return TimelineEntry(
        kind="response_received",
        event_id=response.event_id,
        occurred_at=response.occurred_at,
        position=response.position,
        contact_id=contact_id,
        outreach_id=response.outreach_id,
        outcome=response.outcome,
    )


def _meeting(meeting: Meeting) -> TimelineEntry:
    return TimelineEntry(
        kind="meeting_held",
        event_id=meeting.event_id,
        occurred_at=meeting.occurred_at,
        position=meeting.position,
        contact_id=meeting.contact_id,
        meeting_id=meeting.meeting_id,
        format=meeting.format,
        meeting_kind=meeting.kind,
    )


def _referral(referral: Referral) -> TimelineEntry:
    return TimelineEntry(
        kind="referral_made",
        event_id=referral.event_id,
        occurred_at=referral.occurred_at,
        position=referral.position,
        contact_id=referral.contact_id,
        referral_id=referral.referral_id,
        employer_id=referral.employer_id,
        to_contact_id=referral.to_contact_id,
    )


def _hire(hire: Hire) -> TimelineEntry:
    return TimelineEntry(
        kind="hired",
        event_id=hire.event_id,
        occurred_at=hire.occurred_at,
        position=hire.position,
        contact_id=hire.via_contact_id,
        job_id=hire.job_id,
        employer_id=hire.employer_id,
        application_id=hire.application_id,
        start_date=hire.start_date,
        source=hire.source,
        hourly_wage=hire.hourly_wage,
    )


def _entry(
    record: Participant
    | CounselorAssignment
    | RelationshipNoted
    | Application
    | Interview
    | ApplicationClosure
    | Verification
    | Promotion
    | JobEnd
    | Exit,
) -> TimelineEntry:
    """The entry of a record no relationship shows."""
    event_id, occurred_at, position = record.event_id, record.occurred_at, record.position
    match record:
        case Participant():
            return TimelineEntry(
                kind="participant_enrolled",
                enrolled_on=record.enrolled_on,
                counselor_id=record.counselor_id,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case CounselorAssignment():
            return TimelineEntry(
                kind="counselor_assigned",
                counselor_id=record.counselor_id,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case RelationshipNoted():
            return TimelineEntry(
                kind="relationship_noted",
                contact_id=record.contact_id,
                closeness=record.closeness,
                how_known=record.how_known,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case Application():
            return TimelineEntry(
                kind="application_submitted",
                application_id=record.application_id,
                employer_id=record.employer_id,
                route=record.route,
                referral_id=record.referral_id,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case Interview():
            return TimelineEntry(
                kind="interview_held",
                application_id=record.application_id,
                round=record.round,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case ApplicationClosure():
            return TimelineEntry(
                kind="application_closed",
                application_id=record.application_id,
                outcome=record.outcome,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case Verification():
            return TimelineEntry(
                kind="employment_verified",
                job_id=record.job_id,
                verified_on=record.verified_on,
                method=record.method,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case Promotion():
            return TimelineEntry(
                kind="promoted",
                job_id=record.job_id,
                promoted_on=record.promoted_on,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case JobEnd():
            return TimelineEntry(
                kind="job_ended",
                job_id=record.job_id,
                ended_on=record.ended_on,
                reason=record.reason,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )
        case Exit():
            return TimelineEntry(
                kind="participant_exited",
                exited_on=record.exited_on,
                reason=record.reason,
                event_id=event_id,
                occurred_at=occurred_at,
                position=position,
            )


def _in_order(entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    return sorted(entries, key=lambda entry: (entry.occurred_at, entry.position))


def _existing(facts: Facts, participant_id: uuid.UUID, as_of: AsOf) -> ParticipantFacts | None:
    bundle = facts.participants.get(participant_id)
    if bundle is None or enrolment_as_of(bundle, as_of) is None:
        return None
    return bundle


def timeline(facts: Facts, participant_id: uuid.UUID, params: ViewParams) -> list[TimelineEntry]:
    """Everything that counts of the participant as of ``as_of``, in ``occurred_at`` order (ties: position).

    Voided events, and events about what a voided event created, are left out. As
    everywhere in reports, the ``job_ended``, ``employment_verified``, ``promoted`` and
    ``participant_exited`` whose date is after ``as_of`` have not happened yet; a
    ``hired`` is shown once recorded, with its ``start_date`` even when that is later.
    Empty for a participant who does not exist as of ``as_of``.
    """
    as_of = looking_from(params)
    bundle = facts.participants.get(participant_id)
    if bundle is None:
        return []
    enrolment = enrolment_as_of(bundle, as_of)
    if enrolment is None:
        return []
    activity = activity_as_of(bundle, as_of)
    jobs = jobs_as_of(bundle, as_of)
    contact_of = {outreach.outreach_id.int: outreach.contact_id for outreach in activity.outreaches}
    entries = [_entry(enrolment)]
    entries += [_entry(record) for record in as_of.counted(bundle.counselor_assignments)]
    entries += [_entry(record) for record in activity.relationships]
    entries += [_outreach(outreach) for outreach in activity.outreaches]
    entries += [_response(response, contact_of[response.outreach_id.int]) for response in activity.responses]
    entries += [_meeting(meeting) for meeting in activity.meetings]
    entries += [_referral(referral) for referral in activity.referrals]
    entries += [_entry(record) for record in activity.applications]
    entries += [_entry(record) for record in activity.interviews]
    entries += [_entry(record) for record in activity.closures]
    entries += [_hire(job.hire) for job in jobs.values()]
    day = as_of.date
    # ``jobs_as_of`` keeps only the earliest end of a job; the timeline shows every one that counts.
    entries += [
        _entry(record) for record in as_of.counted(bundle.job_ends) if record.job_id in jobs and record.ended_on <= day
    ]
    entries += [
        _entry(record)
        for record in as_of.counted(bundle.verifications)
        if record.job_id in jobs and record.verified_on <= day
    ]
    entries += [
        _entry(record)
        for record in as_of.counted(bundle.promotions)
        if record.job_id in jobs and record.promoted_on <= day
    ]
    entries += [_entry(record) for record in as_of.counted(bundle.exits) if record.exited_on <= day]
    return _in_order(entries)


class _Pair:
    """What is gathered about one contact of the participant."""

    __slots__ = ("entries", "first", "noted", "stage")

    def __init__(self) -> None:
        self.stage = 0
        self.noted: RelationshipNoted | None = None
        self.entries: list[TimelineEntry] = []
        self.first: tuple[dt.datetime, int] = (dt.datetime.max.replace(tzinfo=dt.UTC), 0)

    def reach(self, stage: Stage, occurred_at: dt.datetime, position: int) -> None:
        self.stage = max(self.stage, STAGES.index(stage))
        self.first = min(self.first, (occurred_at, position))

    def show(self, stage: Stage, entry: TimelineEntry) -> None:
        self.reach(stage, entry.occurred_at, entry.position)
        self.entries.append(entry)


def relationships(facts: Facts, participant_id: uuid.UUID, params: ViewParams) -> list[Relationship]:
    """Each contact the participant's counted events name, with the stage reached and the pair's timeline.

    The stage is the furthest one the counted events justify, so it only moves
    forward as events come, and moves back when a void removes what justified it.
    A referral names both the contact who referred (stage ``referred``) and the one it
    was to, its ``to_contact_id`` (in whose timeline it is, at stage ``noted`` unless
    that contact's own events reach further). A hire via the contact joins the
    timeline once recorded but makes a People Link only from its ``start_date``. A
    contact whose creation is voided is left out (no relationship runs through a
    removed record). Contacts are listed in the order they were first named (noted,
    reached, …).
    """
    as_of = looking_from(params)
    bundle = _existing(facts, participant_id, as_of)
    if bundle is None:
        return []
    activity = activity_as_of(bundle, as_of)
    jobs = jobs_as_of(bundle, as_of)
    pairs: dict[uuid.UUID, _Pair] = {}

    def pair(contact_id: uuid.UUID) -> _Pair:
        found = pairs.get(contact_id)
        if found is None:
            found = pairs[contact_id] = _Pair()
        return found

    for noted in activity.relationships:
        known = pair(noted.contact_id)
        known.reach("noted", noted.occurred_at, noted.position)
        if known.noted is None or (noted.occurred_at, noted.position) > (known.noted.occurred_at, known.noted.position):
            known.noted = noted
    contact_of: dict[int, uuid.UUID] = {}
    for outreach in activity.outreaches:
        contact_of[outreach.outreach_id.int] = outreach.contact_id
        pair(outreach.contact_id).show("contacted", _outreach(outreach))
    for response in activity.responses:
        contact_id = contact_of[response.outreach_id.int]
        pair(contact_id).show("engaged", _response(response, contact_id))
    for meeting in activity.meetings:
        pair(meeting.contact_id).show("met", _meeting(meeting))
    for referral in activity.referrals:
        entry = _referral(referral)
        pair(referral.contact_id).show("referred", entry)
        # The referral names the contact it was to as well: it joins that pair's timeline, and since
        # ``referred`` is a referral *by* the contact, it moves that pair no further than ``noted``.
        if referral.to_contact_id is not None and referral.to_contact_id != referral.contact_id:
            pair(referral.to_contact_id).show("noted", entry)
    for job in jobs.values():
        if job.hire.via_contact_id is not None:
            pair(job.hire.via_contact_id).show("noted", _hire(job.hire))
    links = people_links_since(bundle, jobs, facts.contacts, as_of)
    answer = []
    for contact_id, known in pairs.items():
        contact = facts.contacts.get(contact_id)
        if contact is not None and removed_as_of(contact, as_of):
            continue
        people_link = contact_id in links
        latest_note = known.noted
        answer.append(
            (
                (*known.first, str(contact_id)),
                Relationship(
                    contact_id=contact_id,
                    stage="people_link" if people_link else STAGES[known.stage],
                    people_link=people_link,
                    closeness=None if latest_note is None else latest_note.closeness,
                    how_known=None if latest_note is None else latest_note.how_known,
                    timeline=_in_order(known.entries),
                ),
            )
        )
    answer.sort(key=lambda item: item[0])
    return [relationship for _, relationship in answer]
