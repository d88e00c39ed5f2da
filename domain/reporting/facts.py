"""Report facts: the flat records report projections keep, one per event, and the fold that builds them.

Each record maps 1:1 to a table row: the fields of the event a report needs, the
event's ``event_id``, ``position`` (its ``global_position``) and ``tx`` (the id of the
transaction that stored it), its exact ``occurred_at`` (in UTC) and, once an
``entry_voided`` names it, ``voided_at`` (the void's own ``occurred_at``),
``voided_position`` and ``voided_tx``. Nothing is decided here about what counts: a
report decides that for its ``as_of`` and its report position (``as_of_position``
and ``as_of_horizon``, see ``domain.reporting.scope``), so one set of facts serves
every date and every reproducible position.

Instants rather than dates are kept because what day an instant falls on depends
on the programme's time zone, which is a parameter of the report.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Final, TypeAlias, TypeVar

import msgspec

from domain import events as ev


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """One stored event as the fold reads it: where it sits in the store, when it happened, what it says."""

    stream_id: str
    event_id: uuid.UUID
    global_position: int
    occurred_at: dt.datetime
    type: str
    data: dict[str, object]
    tx: int = 0
    """The id of the transaction that stored the event (``events.tx_id``)."""


class Record(msgspec.Struct, kw_only=True, gc=False):
    """What every fact row carries: the event it comes from and, once voided, when and where the void is.

    A record is never changed except to mark its void (an event may be voided once).
    """

    event_id: uuid.UUID
    position: int
    occurred_at: dt.datetime
    voided_at: dt.datetime | None = None
    voided_position: int | None = None
    tx: int = 0
    """The transaction id of the event: a report position (P, H) holds the record only when ``tx < H``."""
    voided_tx: int | None = None
    """The transaction id of the void, once voided."""


class Participant(Record, kw_only=True, gc=False):
    """A ``participant_enrolled``: the participant and their profile's reportable fields."""

    participant_id: uuid.UUID
    enrolled_on: dt.date
    counselor_id: uuid.UUID
    cohort: str | None = None
    age_band: ev.AgeBand | None = None
    gender: str | None = None
    race_ethnicity: str | None = None
    veteran: bool | None = None


class CounselorAssignment(Record, kw_only=True, gc=False):
    """A ``counselor_assigned``."""

    participant_id: uuid.UUID
    counselor_id: uuid.UUID


class Contact(Record, kw_only=True, gc=False):
    """A ``contact_added``: the contact exists (until its creation is voided), and the employer it names, if any."""

    contact_id: uuid.UUID
    employer_id: uuid.UUID | None = None


class ContactEmployer(Record, kw_only=True, gc=False):
    """A ``contact_updated`` naming an ``employer_id``: the contact works there from this event on.

    An update that does not name an employer makes no record (stored events omit
    absent fields, so an update cannot clear the employer, only change it).
    """

    contact_id: uuid.UUID
    employer_id: uuid.UUID


class RelationshipNoted(Record, kw_only=True, gc=False):
    """A ``relationship_noted``: how close the participant is to a contact and how they know each other."""

    participant_id: uuid.UUID
    contact_id: uuid.UUID
    closeness: ev.Closeness
    how_known: ev.HowKnown


class Outreach(Record, kw_only=True, gc=False):
    """An ``outreach_sent``."""

    participant_id: uuid.UUID
    outreach_id: uuid.UUID
    contact_id: uuid.UUID
    channel: ev.Channel
    purpose: ev.Purpose
    follow_up_of: uuid.UUID | None = None


class Response(Record, kw_only=True, gc=False):
    """A ``response_received``."""

    participant_id: uuid.UUID
    outreach_id: uuid.UUID
    outcome: ev.ResponseOutcome


class Meeting(Record, kw_only=True, gc=False):
    """A ``meeting_held``."""

    participant_id: uuid.UUID
    meeting_id: uuid.UUID
    contact_id: uuid.UUID
    format: ev.MeetingFormat
    kind: ev.MeetingKind


class Referral(Record, kw_only=True, gc=False):
    """A ``referral_made``: ``contact_id`` is who referred."""

    participant_id: uuid.UUID
    referral_id: uuid.UUID
    contact_id: uuid.UUID
    employer_id: uuid.UUID | None = None
    to_contact_id: uuid.UUID | None = None


class Application(Record, kw_only=True, gc=False):
    """An ``application_submitted``."""

    participant_id: uuid.UUID
    application_id: uuid.UUID
    employer_id: uuid.UUID
    route: ev.ApplicationRoute
    referral_id: uuid.UUID | None = None


class Interview(Record, kw_only=True, gc=False):
    """An ``interview_held``."""

    participant_id: uuid.UUID
    application_id: uuid.UUID
    round: int | None = None


class ApplicationClosure(Record, kw_only=True, gc=False):
    """An ``application_closed``."""

    participant_id: uuid.UUID
    application_id: uuid.UUID
    outcome: ev.ApplicationOutcome


class Hire(Record, kw_only=True, gc=False):
    """A ``hired``: one job."""

    participant_id: uuid.UUID
    job_id: uuid.UUID
    employer_id: uuid.UUID
    start_date: dt.date
    source: ev.HireSource
    hourly_wage: Decimal | None = None
    hours_per_week: float | None = None
    application_id: uuid.UUID | None = None
    via_contact_id: uuid.UUID | None = None


class Verification(Record, kw_only=True, gc=False):
    """An ``employment_verified``."""

    participant_id: uuid.UUID
    job_id: uuid.UUID
    verified_on: dt.date
    method: ev.VerificationMethod


class Promotion(Record, kw_only=True, gc=False):
    """A ``promoted``."""

    participant_id: uuid.UUID
    job_id: uuid.UUID
    promoted_on: dt.date
    new_hourly_wage: Decimal | None = None


class JobEnd(Record, kw_only=True, gc=False):
    """A ``job_ended``."""

    participant_id: uuid.UUID
    job_id: uuid.UUID
    ended_on: dt.date
    reason: ev.JobEndReason


class Exit(Record, kw_only=True, gc=False):
    """A ``participant_exited``."""

    participant_id: uuid.UUID
    exited_on: dt.date
    reason: ev.ExitReason


class Void(msgspec.Struct, frozen=True, kw_only=True):
    """An ``entry_voided``: a projection marks the row whose ``event_id`` is ``voided_event_id``."""

    voided_event_id: uuid.UUID
    voided_at: dt.datetime
    voided_position: int
    voided_tx: int = 0


ParticipantRecord: TypeAlias = (
    Participant
    | CounselorAssignment
    | Outreach
    | Response
    | Meeting
    | Referral
    | Application
    | Interview
    | ApplicationClosure
    | Hire
    | Verification
    | Promotion
    | JobEnd
    | Exit
    | RelationshipNoted
)
DirectoryRecord: TypeAlias = Contact | ContactEmployer
"""Records of the programme's shared contact directory (no participant)."""
FactRecord: TypeAlias = ParticipantRecord | DirectoryRecord


SECONDS_PER_DAY: Final = 86_400
T = TypeVar("T")


def _occurred_at(record: Record) -> dt.datetime:
    return record.occurred_at


class ReportPosition(msgspec.Struct, frozen=True):
    """A report position: events at or below ``position`` stored by transactions older than ``horizon``.

    Only events whose transaction committed before the position was pinned can be held by it
    (``docs/decisions.md``), so what a report at ``(P, H)`` counts is the same whenever it is asked.
    """

    position: int
    horizon: int

    def holds(self, position: int, tx: int) -> bool:
        """Whether an event (or the highest position and transaction id of several) is within this position."""
        return position <= self.position and tx < self.horizon


def _void_counts(record: Record, end: dt.datetime, position: ReportPosition) -> bool:
    """Whether the void of a voided record has happened as of a report ending at ``end`` at ``position``."""
    return (
        record.voided_at is not None
        and record.voided_at < end
        and position.holds(record.voided_position or 0, record.voided_tx or 0)
    )


def _last_void(voided: Sequence[Record]) -> tuple[dt.datetime, int, int] | None:
    instants = [record.voided_at for record in voided if record.voided_at is not None]
    if not instants:
        return None
    return (
        max(instants),
        max(record.voided_position or 0 for record in voided),
        max(record.voided_tx or 0 for record in voided),
    )


class OutreachIndex(msgspec.Struct, kw_only=True, dict=True):
    """A participant's outreaches and responses arranged to count them by bisection.

    Records never voided are kept as sorted instants; the few voided ones are kept
    aside and checked one by one for each report. Built from the participant's
    records (``ParticipantFacts.outreach_index``) and rebuilt when they change.
    """

    ordered: list[Outreach]
    """The outreaches never voided, by ``occurred_at``."""
    sent: list[dt.datetime]
    """When each of them was sent (``ordered``'s instants, for bisection)."""
    reply_seq: list[dt.datetime | None]
    """For each of ``ordered``: its earliest response never voided, if any."""
    days_seq: list[float | None]
    """For each of ``ordered``: days from it to that response (``seconds / 86400``), if any."""
    positive_seq: list[dt.datetime | None]
    """For each of ``ordered``: its earliest positive response never voided, if any."""
    answered: list[dt.datetime]
    """When each of those with a response never voided was sent, sorted."""
    sent_at: dict[int, dt.datetime]
    """``outreach_id.int`` of each outreach never voided → when it was sent."""
    first_reply: dict[int, dt.datetime]
    """``outreach_id.int`` → its earliest response never voided (whether or not that outreach exists)."""
    last_reply: dt.datetime | None
    """The latest response never voided (first or not): a report ending after it sees every one of them."""
    voided_outreaches: list[Outreach]
    voided_responses: list[Response]
    last_void: tuple[dt.datetime, int, int] | None
    """The latest ``voided_at``, the highest ``voided_position`` and ``voided_tx`` of those: once a report is
    past all three, no voided record counts any more, and they need no look."""

    @classmethod
    def of(cls, outreaches: Iterable[Outreach], responses: Iterable[Response]) -> OutreachIndex:
        """The index of a participant's outreaches and responses."""
        by_key: dict[int, Outreach] = {}
        voided_outreaches = []
        for outreach in outreaches:
            if outreach.voided_at is None:
                by_key[outreach.outreach_id.int] = outreach
            else:
                voided_outreaches.append(outreach)
        first_reply: dict[int, dt.datetime] = {}
        first_positive: dict[int, dt.datetime] = {}
        voided_responses = []
        last_reply: dt.datetime | None = None
        for response in responses:
            if response.voided_at is not None:
                voided_responses.append(response)
                continue
            if last_reply is None or response.occurred_at > last_reply:
                last_reply = response.occurred_at
            key = response.outreach_id.int
            known = first_reply.get(key)
            if known is None or response.occurred_at < known:
                first_reply[key] = response.occurred_at
            if response.outcome == "positive":
                known = first_positive.get(key)
                if known is None or response.occurred_at < known:
                    first_positive[key] = response.occurred_at
        ordered = sorted(by_key.values(), key=_occurred_at)
        sent_at = {key: outreach.occurred_at for key, outreach in by_key.items()}
        reply_seq = [first_reply.get(outreach.outreach_id.int) for outreach in ordered]
        return cls(
            ordered=ordered,
            sent=[outreach.occurred_at for outreach in ordered],
            reply_seq=reply_seq,
            days_seq=[
                None if replied is None else (replied - outreach.occurred_at).total_seconds() / SECONDS_PER_DAY
                for outreach, replied in zip(ordered, reply_seq, strict=True)
            ],
            positive_seq=[first_positive.get(outreach.outreach_id.int) for outreach in ordered],
            answered=sorted(sent_at[key] for key in first_reply if key in sent_at),
            sent_at=sent_at,
            first_reply=first_reply,
            last_reply=last_reply,
            voided_outreaches=voided_outreaches,
            voided_responses=voided_responses,
            last_void=_last_void([*voided_outreaches, *voided_responses]),
        )

    def local_dates(self, zone: dt.tzinfo) -> list[dt.date]:
        """For each of ``ordered``: the calendar date it was sent in ``zone`` (kept per zone once asked)."""
        held: dict[dt.tzinfo, list[dt.date]] = self.__dict__.setdefault("_local_dates", {})
        dates = held.get(zone)
        if dates is None:
            dates = held[zone] = [outreach.occurred_at.astimezone(zone).date() for outreach in self.ordered]
        return dates

    @functools.cached_property
    def threads_in_order(self) -> bool:
        """Whether every follow-up is dated on or after the outreach it follows up (a late entry may break it)."""
        sent_at = self.sent_at
        return all(
            outreach.follow_up_of is None
            or outreach.follow_up_of.int not in sent_at
            or sent_at[outreach.follow_up_of.int] <= outreach.occurred_at
            for outreach in self.ordered
        )

    def settled(self, end: dt.datetime, position: ReportPosition) -> bool:
        """Whether, for a report ending at ``end`` at ``position``, every voided record is gone (the void counts)."""
        last_void = self.last_void
        return last_void is None or (last_void[0] < end and position.holds(last_void[1], last_void[2]))

    def count_between(self, start: dt.datetime, end: dt.datetime, position: ReportPosition) -> tuple[int, int]:
        """(outreaches counted as of a report ending at ``end`` sent from ``start``, how many have a counted response).

        ``position`` must hold every record (the caller checks the participant's highest).
        """
        if start >= end:
            return 0, 0
        sent = bisect.bisect_left(self.sent, end) - bisect.bisect_left(self.sent, start)
        first_reply, sent_at = self.first_reply, self.sent_at
        answered = 0
        if sent and self.last_reply is not None:
            if self.last_reply < end:
                answered = bisect.bisect_left(self.answered, end) - bisect.bisect_left(self.answered, start)
            else:
                for key, replied_at in first_reply.items():
                    if replied_at < end:
                        at = sent_at.get(key)
                        if at is not None and start <= at < end:
                            answered += 1
        if self.settled(end, position):
            return sent, answered
        # Voided records count until their void's date (or when the void is after the report's position).
        late_replied = {
            response.outreach_id.int
            for response in self.voided_responses
            if response.occurred_at < end and not _void_counts(response, end, position)
        }
        for key in late_replied:
            sent_on = sent_at.get(key)
            if sent_on is not None and start <= sent_on < end:
                first = first_reply.get(key)
                if first is None or first >= end:
                    answered += 1
        for outreach in self.voided_outreaches:
            if start <= outreach.occurred_at < end and not _void_counts(outreach, end, position):
                sent += 1
                key = outreach.outreach_id.int
                first = first_reply.get(key)
                if (first is not None and first < end) or key in late_replied:
                    answered += 1
        return sent, answered


class ParticipantFacts(msgspec.Struct, kw_only=True, dict=True):
    """Every record of one participant, by kind, in the order they were added.

    ``highest_position``, ``highest_tx``, ``latest_occurred_at`` and ``voided`` summarise the records so
    a report can see at once that all of them count (the usual case) and skip checking
    each one. Values derived from the records (``outreach_index``, see ``derived``) are kept
    beside the fields (``dict=True``: not compared, not encoded) with the change count they
    were built at.
    """

    participant_id: uuid.UUID
    highest_position: int = 0
    highest_tx: int = 0
    latest_occurred_at: dt.datetime | None = None
    voided: int = 0
    """How many of the records carry a void."""
    enrolment: Participant | None = None
    counselor_assignments: list[CounselorAssignment] = msgspec.field(default_factory=list)
    outreaches: list[Outreach] = msgspec.field(default_factory=list)
    responses: list[Response] = msgspec.field(default_factory=list)
    meetings: list[Meeting] = msgspec.field(default_factory=list)
    referrals: list[Referral] = msgspec.field(default_factory=list)
    applications: list[Application] = msgspec.field(default_factory=list)
    interviews: list[Interview] = msgspec.field(default_factory=list)
    closures: list[ApplicationClosure] = msgspec.field(default_factory=list)
    hires: list[Hire] = msgspec.field(default_factory=list)
    verifications: list[Verification] = msgspec.field(default_factory=list)
    promotions: list[Promotion] = msgspec.field(default_factory=list)
    job_ends: list[JobEnd] = msgspec.field(default_factory=list)
    exits: list[Exit] = msgspec.field(default_factory=list)
    relationships: list[RelationshipNoted] = msgspec.field(default_factory=list)

    def outreach_index(self) -> OutreachIndex:
        """The outreaches and responses indexed for counting, rebuilt once after any change."""
        return derived(self, "_outreach_index", lambda: OutreachIndex.of(self.outreaches, self.responses))

    def referring_applications(self) -> list[Application]:
        """The applications that name a referral (the few that can make a People Link), in the order added."""
        return derived(self, "_referring", lambda: [app for app in self.applications if app.referral_id is not None])


class Facts(msgspec.Struct, kw_only=True, dict=True):
    """All report facts of one programme, indexed by participant so a report reads each participant once.

    Like each participant's, the directory's changes are counted beside the fields
    (``changes``), so that what is derived from it knows when it is stale.
    """

    participants: dict[uuid.UUID, ParticipantFacts] = msgspec.field(default_factory=dict)
    contacts: dict[uuid.UUID, Contact] = msgspec.field(default_factory=dict)
    contact_employers: dict[uuid.UUID, list[ContactEmployer]] = msgspec.field(default_factory=dict)
    """Each contact's ``contact_updated`` records naming an employer, in the order they were added."""
    by_event_id: dict[uuid.UUID, FactRecord] = msgspec.field(default_factory=dict)
    last_position: int = 0
    """The highest ``position`` or ``voided_position`` of any record (what its rows alone can tell)."""


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is dt.UTC:
        return instant  # as the store hands instants back: nothing to check or convert
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"occurred_at must carry an offset, got {instant.isoformat()}")
    return instant.astimezone(dt.UTC)


@functools.lru_cache(maxsize=8192)
def stream_uuid(raw_id: str) -> uuid.UUID:
    """The id of a stream (a participant's events come in runs: parsing it once a run saves most of the work)."""
    return uuid.UUID(raw_id)


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def fact_from_event(envelope: EventEnvelope) -> FactRecord | Void | None:
    """The record one event makes, the void it marks, or ``None`` when reports do not use the event.

    Stateless, so a projection can turn each event into its row on its own.
    """
    kind, _, raw_id = envelope.stream_id.partition("-")
    stream_id = stream_uuid(raw_id)
    event = ev.decode_data(envelope.type, envelope.data)
    eid, pos, tx = envelope.event_id, envelope.global_position, envelope.tx
    at = _utc(envelope.occurred_at)
    if isinstance(event, ev.EntryVoided):
        return Void(
            voided_event_id=event.voided_event_id, voided_at=at, voided_position=envelope.global_position, voided_tx=tx
        )
    if kind == "contact":
        if isinstance(event, ev.ContactAdded):
            return Contact(
                event_id=eid, position=pos, tx=tx, occurred_at=at, contact_id=stream_id, employer_id=event.employer_id
            )
        if isinstance(event, ev.ContactUpdated) and event.employer_id is not None:
            return ContactEmployer(
                event_id=eid, position=pos, tx=tx, occurred_at=at, contact_id=stream_id, employer_id=event.employer_id
            )
        return None
    if kind != "participant":
        return None
    pid = stream_id
    match event:
        case ev.ParticipantEnrolled():
            profile = event.profile
            return Participant(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                enrolled_on=event.enrolled_on,
                counselor_id=event.counselor_id,
                cohort=event.cohort,
                age_band=profile.age_band,
                gender=profile.gender,
                race_ethnicity=profile.race_ethnicity,
                veteran=profile.veteran,
            )
        case ev.CounselorAssigned():
            return CounselorAssignment(
                event_id=eid, position=pos, tx=tx, occurred_at=at, participant_id=pid, counselor_id=event.counselor_id
            )
        case ev.RelationshipNoted():
            return RelationshipNoted(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                contact_id=event.contact_id,
                closeness=event.closeness,
                how_known=event.how_known,
            )
        case ev.OutreachSent():
            return Outreach(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                outreach_id=event.outreach_id,
                contact_id=event.contact_id,
                channel=event.channel,
                purpose=event.purpose,
                follow_up_of=event.follow_up_of,
            )
        case ev.ResponseReceived():
            return Response(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                outreach_id=event.outreach_id,
                outcome=event.outcome,
            )
        case ev.MeetingHeld():
            return Meeting(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                meeting_id=event.meeting_id,
                contact_id=event.contact_id,
                format=event.format,
                kind=event.kind,
            )
        case ev.ReferralMade():
            return Referral(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                referral_id=event.referral_id,
                contact_id=event.contact_id,
                employer_id=event.employer_id,
                to_contact_id=event.to_contact_id,
            )
        case ev.ApplicationSubmitted():
            return Application(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                application_id=event.application_id,
                employer_id=event.employer_id,
                route=event.route,
                referral_id=event.referral_id,
            )
        case ev.InterviewHeld():
            return Interview(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                application_id=event.application_id,
                round=event.round,
            )
        case ev.ApplicationClosed():
            return ApplicationClosure(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                application_id=event.application_id,
                outcome=event.outcome,
            )
        case ev.Hired():
            return Hire(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                job_id=event.job_id,
                employer_id=event.employer_id,
                start_date=event.start_date,
                source=event.source,
                hourly_wage=_money(event.hourly_wage),
                hours_per_week=event.hours_per_week,
                application_id=event.application_id,
                via_contact_id=event.via_contact_id,
            )
        case ev.EmploymentVerified():
            return Verification(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                job_id=event.job_id,
                verified_on=event.verified_on,
                method=event.method,
            )
        case ev.Promoted():
            return Promotion(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                job_id=event.job_id,
                promoted_on=event.promoted_on,
                new_hourly_wage=_money(event.new_hourly_wage),
            )
        case ev.JobEnded():
            return JobEnd(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                job_id=event.job_id,
                ended_on=event.ended_on,
                reason=event.reason,
            )
        case ev.ParticipantExited():
            return Exit(
                event_id=eid,
                position=pos,
                tx=tx,
                occurred_at=at,
                participant_id=pid,
                exited_on=event.exited_on,
                reason=event.reason,
            )
        case _:
            return None


def _bundle(facts: Facts, participant_id: uuid.UUID) -> ParticipantFacts:
    bundle = facts.participants.get(participant_id)
    if bundle is None:
        bundle = facts.participants[participant_id] = ParticipantFacts(participant_id=participant_id)
    return bundle


def changes(holder: ParticipantFacts | Facts) -> tuple[int, int, int]:
    """(how many times a participant's records, or the directory's, were added to or marked, the highest
    ``position`` or ``voided_position`` and the highest ``tx`` or ``voided_tx`` among them): equal counts mean
    the same records, marked the same way; a report position that holds the highest holds all of them."""
    state = holder.__dict__
    return state.get("_changes", 0), state.get("_top", 0), state.get("_top_tx", 0)


def derived(bundle: ParticipantFacts, name: str, build: Callable[[], T]) -> T:
    """A value derived from the participant's records, kept beside them under ``name`` and built again
    only after they change (records are only added or marked void, and each of those is counted)."""
    state = bundle.__dict__
    stamp = state.get("_changes", 0)
    held: tuple[int, T] | None = state.get(name)
    if held is None or held[0] != stamp:
        held = state[name] = (stamp, build())
    return held[1]


def _touch(holder: ParticipantFacts | Facts, position: int, tx: int) -> None:
    state = holder.__dict__
    state["_changes"] = state.get("_changes", 0) + 1
    state["_top"] = max(state.get("_top", 0), position)
    state["_top_tx"] = max(state.get("_top_tx", 0), tx)


def add_record(facts: Facts, record: FactRecord) -> None:
    """Add one record (a freshly folded one, or a row loaded from a projection's table)."""
    facts.by_event_id[record.event_id] = record
    facts.last_position = max(facts.last_position, record.position, record.voided_position or 0)
    if isinstance(record, Contact | ContactEmployer):
        _touch(facts, max(record.position, record.voided_position or 0), max(record.tx, record.voided_tx or 0))
    if isinstance(record, Contact):
        known = facts.contacts.get(record.contact_id)
        if known is None or record.position < known.position:
            facts.contacts[record.contact_id] = record
        return
    if isinstance(record, ContactEmployer):
        facts.contact_employers.setdefault(record.contact_id, []).append(record)
        return
    bundle = _bundle(facts, record.participant_id)
    _touch(bundle, max(record.position, record.voided_position or 0), max(record.tx, record.voided_tx or 0))
    bundle.highest_position = max(bundle.highest_position, record.position)
    bundle.highest_tx = max(bundle.highest_tx, record.tx)
    if bundle.latest_occurred_at is None or record.occurred_at > bundle.latest_occurred_at:
        bundle.latest_occurred_at = record.occurred_at
    if record.voided_at is not None:
        bundle.voided += 1
    match record:
        case Participant():
            # The stream's creation event is its first; anything later naming itself an enrolment is ignored.
            if bundle.enrolment is None or record.position < bundle.enrolment.position:
                bundle.enrolment = record
        case CounselorAssignment():
            bundle.counselor_assignments.append(record)
        case Outreach():
            bundle.outreaches.append(record)
        case Response():
            bundle.responses.append(record)
        case Meeting():
            bundle.meetings.append(record)
        case Referral():
            bundle.referrals.append(record)
        case Application():
            bundle.applications.append(record)
        case Interview():
            bundle.interviews.append(record)
        case ApplicationClosure():
            bundle.closures.append(record)
        case Hire():
            bundle.hires.append(record)
        case Verification():
            bundle.verifications.append(record)
        case Promotion():
            bundle.promotions.append(record)
        case JobEnd():
            bundle.job_ends.append(record)
        case Exit():
            bundle.exits.append(record)
        case RelationshipNoted():
            bundle.relationships.append(record)


def mark_void(facts: Facts, void: Void) -> FactRecord | None:
    """Mark the record a void names; returns it, or ``None`` when reports keep no record of that event."""
    record = facts.by_event_id.get(void.voided_event_id)
    if record is None or record.voided_at is not None:
        return None
    facts.last_position = max(facts.last_position, void.voided_position)
    record.voided_at = void.voided_at
    record.voided_position = void.voided_position
    record.voided_tx = void.voided_tx
    if isinstance(record, Contact | ContactEmployer):
        _touch(facts, void.voided_position, void.voided_tx)
    else:
        bundle = facts.participants[record.participant_id]
        _touch(bundle, void.voided_position, void.voided_tx)
        bundle.voided += 1
    return record


def apply(facts: Facts, envelope: EventEnvelope) -> FactRecord | None:
    """Fold one event into ``facts``; returns the record it added or marked void (the row to write), if any."""
    fact = fact_from_event(envelope)
    if fact is None:
        return None
    if isinstance(fact, Void):
        return mark_void(facts, fact)
    add_record(facts, fact)
    return fact


def facts_from_events(events: Iterable[EventEnvelope]) -> Facts:
    """Fold a programme's events, in store order, into report facts."""
    facts = Facts()
    for envelope in events:
        apply(facts, envelope)
    return facts
