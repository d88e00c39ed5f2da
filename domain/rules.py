"""The rules an append must satisfy (``shared/spec/events.md``, "Rules an append must enforce").

The caller folds the stream (``domain.streams``), asks ``lookups_for`` which
records of other streams the new event names, looks those up in the same
programme, and hands what it found to ``check_append``. Everything here is
pure: no I/O, and the clock comes in as ``now``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Final, Literal, TypeAlias

import msgspec
import msgspec.structs

from domain.events import (
    CREATION_EVENTS,
    EVENTS_BY_STREAM,
    ApplicationClosed,
    ApplicationSubmitted,
    ContactAdded,
    ContactUpdated,
    CounselorAssigned,
    EmploymentVerified,
    EntryVoided,
    Event,
    Hired,
    InterviewHeld,
    JobEnded,
    JobSearchObjectiveSet,
    MeetingHeld,
    OutreachSent,
    ParticipantEnrolled,
    Promoted,
    ReferralMade,
    RelationshipNoted,
    ResponseReceived,
    StreamKind,
    type_name,
    type_name_of,
)
from domain.streams import Entry, Made, RuleViolation, StreamState

__all__ = [
    "ALLOWED_AFTER_EXIT",
    "MAX_AHEAD",
    "Lookups",
    "References",
    "RuleViolation",
    "check_append",
    "lookups_for",
]

MAX_AHEAD: Final[timedelta] = timedelta(hours=24)
"""How far after ``now`` an ``occurred_at`` may lie (clocks and time zones differ)."""

EARLIEST: Final[date] = date(1900, 1, 1)
"""No programme records anything, or dates anything, before this day (year 1 is a typo, not a fact)."""

DATES_AHEAD: Final[timedelta] = timedelta(days=2 * 366)
"""How far after today a date field may lie: a start date or a release date can be planned, not decades ahead."""

ALLOWED_AFTER_EXIT: Final[frozenset[str]] = frozenset(
    {"employment_verified", "promoted", "job_ended", "hired", "entry_voided"}
)
"""What may still be recorded after a participant exits: follow-up is how retention is measured."""

Directory: TypeAlias = Literal["contacts", "employers", "counselors"]


class _ProgrammeIds(msgspec.Struct, frozen=True, kw_only=True):
    """Ids of records kept outside the stream: contacts, employers and counselors (users)."""

    contacts: frozenset[uuid.UUID] = frozenset()
    employers: frozenset[uuid.UUID] = frozenset()
    counselors: frozenset[uuid.UUID] = frozenset()


class Lookups(_ProgrammeIds, frozen=True, kw_only=True):
    """What the caller must look up in the programme before ``check_append``."""


class References(_ProgrammeIds, frozen=True, kw_only=True):
    """Which of the looked-up ids the caller found in the same programme.

    ``contacts`` and ``employers``: records that exist (opened and not removed);
    ``counselors``: users of the programme with the role counselor, staff or admin.
    An id of another programme's record must be left out: it counts as absent.
    """


_DIRECTORY_MISSING: Final[dict[Directory, str]] = {
    "contacts": "contact {id} is not in this programme's contact directory (or was removed)",
    "employers": "employer {id} is not in this programme's employer list (or was removed)",
    "counselors": "user {id} is not a counselor, staff member or admin of this programme",
}


def _named_records(event: Event) -> list[tuple[str, Directory, uuid.UUID]]:
    """Every (field, directory, id) an event names outside its own stream."""
    named: list[tuple[str, Directory, uuid.UUID | None]]
    match event:
        case ParticipantEnrolled(counselor_id=counselor_id) | CounselorAssigned(counselor_id=counselor_id):
            named = [("data.counselor_id", "counselors", counselor_id)]
        case JobSearchObjectiveSet(target_employer_ids=employer_ids):
            named = [
                (f"data.target_employer_ids[{index}]", "employers", employer_id)
                for index, employer_id in enumerate(employer_ids or ())
            ]
        case (
            RelationshipNoted(contact_id=contact_id)
            | OutreachSent(contact_id=contact_id)
            | MeetingHeld(contact_id=contact_id)
        ):
            named = [("data.contact_id", "contacts", contact_id)]
        case ReferralMade():
            named = [
                ("data.contact_id", "contacts", event.contact_id),
                ("data.to_contact_id", "contacts", event.to_contact_id),
                ("data.employer_id", "employers", event.employer_id),
            ]
        case ApplicationSubmitted(employer_id=employer_id):
            named = [("data.employer_id", "employers", employer_id)]
        case Hired():
            named = [
                ("data.employer_id", "employers", event.employer_id),
                ("data.via_contact_id", "contacts", event.via_contact_id),
            ]
        case ContactAdded(employer_id=employer_id) | ContactUpdated(employer_id=employer_id):
            named = [("data.employer_id", "employers", employer_id)]
        case _:
            named = []
    return [(field, directory, record_id) for field, directory, record_id in named if record_id is not None]


def lookups_for(kind: StreamKind, entry: Entry) -> Lookups:
    """The contacts, employers and counselors an event names, for the caller to look up.

    An event that does not belong to this kind of stream names nothing:
    ``check_append`` refuses it on its type before any lookup matters.
    """
    if type_name(entry.event) not in EVENTS_BY_STREAM[kind]:
        return Lookups()
    wanted: dict[Directory, set[uuid.UUID]] = {"contacts": set(), "employers": set(), "counselors": set()}
    for _field, directory, record_id in _named_records(entry.event):
        wanted[directory].add(record_id)
    return Lookups(
        contacts=frozenset(wanted["contacts"]),
        employers=frozenset(wanted["employers"]),
        counselors=frozenset(wanted["counselors"]),
    )


def check_append(state: StreamState, entry: Entry, refs: References, *, now: datetime) -> None:
    """Raise ``RuleViolation`` unless ``entry`` may be appended to a stream in ``state``.

    Choices the spec leaves open, made here:

    - A record whose creation event was voided is removed (``reports.md``):
      every further append is refused, ``entry_voided`` included. A void cannot
      be undone (an ``entry_voided`` cannot itself be voided), so a record
      entered by mistake stays removed and the right one is a new stream.
    - "No activity after ``participant_exited``" is judged by append order: while
      the stream holds an exit that is not voided, only the types in
      ``ALLOWED_AFTER_EXIT`` may be appended, whatever their ``occurred_at``.
      Voiding the exit lifts the restriction; a second exit is refused until then.
    - An id that an earlier event created (an outreach, meeting, referral,
      application or job) cannot be used for a new one even after that event
      was voided, so that the voided event and the new one are never confused.
    - An ``event_id`` already in the stream is refused: retries with the same
      ``event_id`` are answered from the store before the rules are asked.
    """
    _check_clock(entry, now)
    _check_dates(entry, now)
    _check_type(state, entry)
    _check_event_id(state, entry)
    _check_lifecycle(state, entry)
    _check_after_exit(state, entry)
    for field, directory, record_id in _named_records(entry.event):
        if record_id not in getattr(refs, directory):
            raise RuleViolation(field, _DIRECTORY_MISSING[directory].format(id=record_id))
    _check_within_stream(state, entry)


def _record(state: StreamState) -> str:
    """How messages name the stream: "this participant's record"."""
    return f"this {state.kind}'s record"


def _check_clock(entry: Entry, now: datetime) -> None:
    if now.utcoffset() is None:
        raise ValueError("now must be time-zone aware")
    if entry.occurred_at.utcoffset() is None:
        raise RuleViolation("occurred_at", "occurred_at needs a time-zone offset, e.g. 2026-11-20T14:05:00Z")
    try:
        entry.occurred_at.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+02:00 is valid RFC 3339 but lies before the first instant the store can hold.
        raise RuleViolation("occurred_at", f"occurred_at {entry.occurred_at.isoformat()} is out of range") from None
    if entry.occurred_at < datetime.combine(EARLIEST, time(), tzinfo=UTC):
        raise RuleViolation(
            "occurred_at",
            f"occurred_at {entry.occurred_at.isoformat()} is before {EARLIEST.isoformat()}; check the year",
        )
    if entry.occurred_at > now + MAX_AHEAD:
        raise RuleViolation(
            "occurred_at",
            f"occurred_at {entry.occurred_at.isoformat()} is more than 24 hours in the future "
            f"(it is now {now.isoformat()}); record things once they have happened",
        )


@cache
def _fields_of(struct_type: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """A struct type's fields (``msgspec.structs.fields`` resolves every annotation on each call)."""
    return msgspec.structs.fields(struct_type)


def _date_fields(value: msgspec.Struct, path: str) -> Iterator[tuple[str, date]]:
    """Every calendar date in an event's data (nested structs included), with its path in the body."""
    for field in _fields_of(type(value)):
        item = getattr(value, field.name)
        if isinstance(item, date) and not isinstance(item, datetime):
            yield f"{path}{field.encode_name}", item
        elif isinstance(item, msgspec.Struct):
            yield from _date_fields(item, f"{path}{field.encode_name}.")


def _check_dates(entry: Entry, now: datetime) -> None:
    # Every date a report adds days or quarters to must stay far from the calendar's ends: 9999-12-31 + 180 days
    # does not exist, and the read models would stop on it.
    latest = now.astimezone(UTC).date() + DATES_AHEAD
    for field, day in _date_fields(entry.event, "data."):
        if not EARLIEST <= day <= latest:
            raise RuleViolation(
                field,
                f"{field.removeprefix('data.')} {day.isoformat()} is outside {EARLIEST.isoformat()} to "
                f"{latest.isoformat()} (two years from today); check the year",
            )


def _check_type(state: StreamState, entry: Entry) -> None:
    event_type = type_name(entry.event)
    if event_type not in EVENTS_BY_STREAM[state.kind]:
        allowed = ", ".join(EVENTS_BY_STREAM[state.kind])
        raise RuleViolation(
            "type", f"{event_type} cannot be recorded on a {state.kind}'s record; a {state.kind} takes {allowed}"
        )


def _check_event_id(state: StreamState, entry: Entry) -> None:
    earlier = state.entry(entry.event_id)
    if earlier is not None:
        recorded = type_name(earlier.event)
        raise RuleViolation(
            "event_id", f"event {entry.event_id} is already in {_record(state)} (a {recorded}); use a new event_id"
        )


def _check_lifecycle(state: StreamState, entry: Entry) -> None:
    creation = type_name_of(CREATION_EVENTS[state.kind])
    is_creation = type_name(entry.event) == creation
    if not state.opened:
        if not is_creation:
            raise RuleViolation(
                "type",
                f"this {state.kind} has no record yet: it must start with {creation}, not {type_name(entry.event)}",
            )
        return
    if not state.exists:
        raise RuleViolation(
            "stream_id",
            f"{_record(state)} was removed (its {creation} was voided); nothing more can be recorded on it",
        )
    if is_creation:
        raise RuleViolation("type", f"this {state.kind} already has a record; {creation} can open it only once")


def _check_after_exit(state: StreamState, entry: Entry) -> None:
    exit_entry = state.exit
    if exit_entry is None:
        return
    event_type = type_name(entry.event)
    exited_on = getattr(exit_entry.event, "exited_on", None)
    if event_type == "participant_exited":
        raise RuleViolation(
            "type",
            f"this participant already exited on {exited_on}; void that exit first to record a different one",
        )
    if event_type not in ALLOWED_AFTER_EXIT:
        raise RuleViolation(
            "type",
            f"this participant exited on {exited_on}; after an exit only employment_verified, promoted, "
            f"job_ended, hired and entry_voided can be recorded, not {event_type}",
        )


def _require_new(state: StreamState, what: Made, thing_id: uuid.UUID, field: str) -> None:
    creator = state.creator(what, thing_id)
    if creator is None:
        return
    voided = " and later voided" if state.is_voided(creator.event_id) else ""
    raise RuleViolation(
        field,
        f"{what} {thing_id} was already recorded{voided} in {_record(state)}; a new {what} needs a new id",
    )


def _require_live(state: StreamState, what: Made, thing_id: uuid.UUID, field: str) -> Entry:
    live = state.live(what, thing_id)
    if live is not None:
        return live
    reason = " (it was voided)" if state.creator(what, thing_id) is not None else ""
    raise RuleViolation(field, f"{what} {thing_id} does not exist in {_record(state)}{reason}")


def _check_within_stream(state: StreamState, entry: Entry) -> None:
    """Ids created in this stream: new ones must be new, referred ones must be live; dates in order."""
    match entry.event:
        case OutreachSent(outreach_id=outreach_id, follow_up_of=follow_up_of):
            _require_new(state, "outreach", outreach_id, "data.outreach_id")
            if follow_up_of is not None:
                _require_live(state, "outreach", follow_up_of, "data.follow_up_of")
        case ResponseReceived(outreach_id=outreach_id):
            outreach = _require_live(state, "outreach", outreach_id, "data.outreach_id")
            if entry.occurred_at < outreach.occurred_at:
                raise RuleViolation(
                    "occurred_at",
                    f"a response cannot come before its outreach: outreach {outreach_id} was sent at "
                    f"{outreach.occurred_at.isoformat()}, the response says {entry.occurred_at.isoformat()}",
                )
        case MeetingHeld(meeting_id=meeting_id):
            _require_new(state, "meeting", meeting_id, "data.meeting_id")
        case ReferralMade(referral_id=referral_id):
            _require_new(state, "referral", referral_id, "data.referral_id")
        case ApplicationSubmitted(application_id=application_id, referral_id=referral_id):
            _require_new(state, "application", application_id, "data.application_id")
            if referral_id is not None:
                _require_live(state, "referral", referral_id, "data.referral_id")
        case InterviewHeld(application_id=application_id) | ApplicationClosed(application_id=application_id):
            _require_live(state, "application", application_id, "data.application_id")
        case Hired(job_id=job_id, application_id=application_id):
            _require_new(state, "job", job_id, "data.job_id")
            if application_id is not None:
                _require_live(state, "application", application_id, "data.application_id")
        case EmploymentVerified(job_id=job_id) | Promoted(job_id=job_id):
            _require_live(state, "job", job_id, "data.job_id")
        case JobEnded(job_id=job_id, ended_on=ended_on):
            hired = _require_live(state, "job", job_id, "data.job_id").event
            if isinstance(hired, Hired) and ended_on < hired.start_date:
                raise RuleViolation(
                    "data.ended_on",
                    f"job {job_id} started on {hired.start_date}; it cannot end before that ({ended_on})",
                )
        case EntryVoided(voided_event_id=voided_event_id):
            _check_void(state, voided_event_id)
        case _:
            pass


def _check_void(state: StreamState, voided_event_id: uuid.UUID) -> None:
    target = state.entry(voided_event_id)
    if target is None:
        raise RuleViolation(
            "data.voided_event_id",
            f"event {voided_event_id} is not part of {_record(state)}; only its own events can be voided there",
        )
    if isinstance(target.event, EntryVoided):
        raise RuleViolation(
            "data.voided_event_id", f"event {voided_event_id} is itself a void (entry_voided) and cannot be voided"
        )
    voided_by = state.voided_by(voided_event_id)
    if voided_by is not None:
        raise RuleViolation(
            "data.voided_event_id",
            f"event {voided_event_id} ({type_name(target.event)}) was already voided by event {voided_by.event_id}",
        )
