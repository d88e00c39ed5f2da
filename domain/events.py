"""The event catalogue of ``shared/spec/events.md`` as frozen msgspec Structs.

Each event class is tagged with its wire name. On the wire an event's fields sit
under ``data`` and its type beside them in the envelope; the tag lets the same
classes decode a ``{"type": …, …fields}`` object as one tagged union too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Final, Literal, TypeAlias

import msgspec

Money: TypeAlias = Annotated[
    str, msgspec.Meta(pattern=r"^\d{1,7}(\.\d{1,4})?$", description="decimal string, e.g. 17.50")
]
NO_NUL: Final = "^[^\x00]*$"
"""Text carries no U+0000: PostgreSQL stores none, so it is refused where it is sent, naming the field."""

NonEmpty: TypeAlias = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NO_NUL)]
LongText: TypeAlias = Annotated[str, msgspec.Meta(max_length=5000)]
PositiveInt: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Hours: TypeAlias = Annotated[float, msgspec.Meta(ge=0, le=168)]

AgeBand = Literal["18-24", "25-34", "35-44", "45-54", "55+"]
Closeness = Literal["close", "well", "moderate", "acquaintance"]
HowKnown = Literal[
    "family",
    "friend",
    "former_colleague",
    "former_employer",
    "mentor",
    "faith_community",
    "programme_staff",
    "event",
    "online",
    "cold",
    "other",
]
Channel = Literal["email", "phone", "text", "linkedin", "letter", "in_person", "walk_in", "other"]
Purpose = Literal[
    "introduction",
    "ask_for_meeting",
    "ask_for_referral",
    "follow_up",
    "progress_update",
    "thank_you",
    "congratulations",
    "offer_help",
    "notify_hired",
    "other",
]
ResponseOutcome = Literal["positive", "neutral", "declined"]
MeetingFormat = Literal["in_person", "phone", "video"]
MeetingKind = Literal["coffee", "informational_interview", "networking_event", "job_fair", "mentoring", "other"]
ApplicationRoute = Literal["online", "referral", "walk_in", "staffing_agency", "direct_contact", "other"]
ApplicationOutcome = Literal["rejected", "withdrawn", "no_response"]
HireSource = Literal[
    "referral",
    "network_contact",
    "walk_in",
    "online_application",
    "staffing_agency",
    "job_developer",
    "other",
]
VerificationMethod = Literal["pay_stub", "employer_contact", "participant_report", "wage_record"]
JobEndReason = Literal["quit", "fired", "laid_off", "contract_ended", "moved_to_better_job", "other"]
ExitReason = Literal["completed", "employed", "disengaged", "reincarcerated", "moved", "other"]

CHANNELS: Final[tuple[str, ...]] = Channel.__args__  # type: ignore[attr-defined]
PURPOSES: Final[tuple[str, ...]] = Purpose.__args__  # type: ignore[attr-defined]
HIRE_SOURCES: Final[tuple[str, ...]] = HireSource.__args__  # type: ignore[attr-defined]


class Event(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True, omit_defaults=True
):
    """Base of every event: immutable, tagged by its wire name, unknown fields refused."""


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """What a participant tells the programme about themselves at enrolment."""

    display_name: NonEmpty
    age_band: AgeBand | None = None
    gender: NonEmpty | None = None
    race_ethnicity: NonEmpty | None = None
    veteran: bool | None = None
    release_date: dt.date | None = None


# --- participant stream -------------------------------------------------------


class ParticipantEnrolled(Event, tag="participant_enrolled", frozen=True, kw_only=True):
    enrolled_on: dt.date
    counselor_id: uuid.UUID
    profile: Profile
    cohort: NonEmpty | None = None


class CounselorAssigned(Event, tag="counselor_assigned", frozen=True, kw_only=True):
    counselor_id: uuid.UUID


class JobSearchObjectiveSet(Event, tag="job_search_objective_set", frozen=True, kw_only=True):
    target_titles: list[NonEmpty]
    target_employer_ids: list[uuid.UUID] | None = None
    target_industries: list[NonEmpty] | None = None


class RelationshipNoted(Event, tag="relationship_noted", frozen=True, kw_only=True):
    contact_id: uuid.UUID
    closeness: Closeness
    how_known: HowKnown


class OutreachSent(Event, tag="outreach_sent", frozen=True, kw_only=True):
    outreach_id: uuid.UUID
    contact_id: uuid.UUID
    channel: Channel
    purpose: Purpose
    follow_up_of: uuid.UUID | None = None


class ResponseReceived(Event, tag="response_received", frozen=True, kw_only=True):
    outreach_id: uuid.UUID
    outcome: ResponseOutcome


class MeetingHeld(Event, tag="meeting_held", frozen=True, kw_only=True):
    meeting_id: uuid.UUID
    contact_id: uuid.UUID
    format: MeetingFormat
    kind: MeetingKind
    duration_minutes: PositiveInt | None = None


class ReferralMade(Event, tag="referral_made", frozen=True, kw_only=True):
    referral_id: uuid.UUID
    contact_id: uuid.UUID
    employer_id: uuid.UUID | None = None
    to_contact_id: uuid.UUID | None = None
    position: NonEmpty | None = None


class ApplicationSubmitted(Event, tag="application_submitted", frozen=True, kw_only=True):
    application_id: uuid.UUID
    employer_id: uuid.UUID
    position: NonEmpty
    route: ApplicationRoute
    referral_id: uuid.UUID | None = None


class InterviewHeld(Event, tag="interview_held", frozen=True, kw_only=True):
    application_id: uuid.UUID
    round: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None


class ApplicationClosed(Event, tag="application_closed", frozen=True, kw_only=True):
    application_id: uuid.UUID
    outcome: ApplicationOutcome


class Hired(Event, tag="hired", frozen=True, kw_only=True):
    job_id: uuid.UUID
    employer_id: uuid.UUID
    title: NonEmpty
    start_date: dt.date
    source: HireSource
    hourly_wage: Money | None = None
    hours_per_week: Hours | None = None
    application_id: uuid.UUID | None = None
    via_contact_id: uuid.UUID | None = None


class EmploymentVerified(Event, tag="employment_verified", frozen=True, kw_only=True):
    job_id: uuid.UUID
    verified_on: dt.date
    method: VerificationMethod


class Promoted(Event, tag="promoted", frozen=True, kw_only=True):
    job_id: uuid.UUID
    promoted_on: dt.date
    new_title: NonEmpty
    new_hourly_wage: Money | None = None


class JobEnded(Event, tag="job_ended", frozen=True, kw_only=True):
    job_id: uuid.UUID
    ended_on: dt.date
    reason: JobEndReason


class ParticipantExited(Event, tag="participant_exited", frozen=True, kw_only=True):
    exited_on: dt.date
    reason: ExitReason


class EntryVoided(Event, tag="entry_voided", frozen=True, kw_only=True):
    voided_event_id: uuid.UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=NO_NUL)]


# --- contact stream -----------------------------------------------------------


class ContactAdded(Event, tag="contact_added", frozen=True, kw_only=True):
    name: NonEmpty
    organization: NonEmpty | None = None
    employer_id: uuid.UUID | None = None
    role: NonEmpty | None = None
    email: NonEmpty | None = None
    phone: NonEmpty | None = None


class ContactUpdated(Event, tag="contact_updated", frozen=True, kw_only=True):
    name: NonEmpty | None = None
    organization: NonEmpty | None = None
    employer_id: uuid.UUID | None = None
    role: NonEmpty | None = None
    email: NonEmpty | None = None
    phone: NonEmpty | None = None


# --- employer stream ----------------------------------------------------------


class EmployerAdded(Event, tag="employer_added", frozen=True, kw_only=True):
    name: NonEmpty
    industry: NonEmpty | None = None
    fair_chance: bool | None = None
    city: NonEmpty | None = None


class EmployerUpdated(Event, tag="employer_updated", frozen=True, kw_only=True):
    name: NonEmpty | None = None
    industry: NonEmpty | None = None
    fair_chance: bool | None = None
    city: NonEmpty | None = None


StreamKind = Literal["participant", "contact", "employer"]

PARTICIPANT_EVENTS: Final[tuple[type[Event], ...]] = (
    ParticipantEnrolled,
    CounselorAssigned,
    JobSearchObjectiveSet,
    RelationshipNoted,
    OutreachSent,
    ResponseReceived,
    MeetingHeld,
    ReferralMade,
    ApplicationSubmitted,
    InterviewHeld,
    ApplicationClosed,
    Hired,
    EmploymentVerified,
    Promoted,
    JobEnded,
    ParticipantExited,
    EntryVoided,
)
CONTACT_EVENTS: Final[tuple[type[Event], ...]] = (ContactAdded, ContactUpdated, EntryVoided)
EMPLOYER_EVENTS: Final[tuple[type[Event], ...]] = (EmployerAdded, EmployerUpdated, EntryVoided)

EVENTS_BY_STREAM: Final[dict[str, dict[str, type[Event]]]] = {
    "participant": {c.__struct_config__.tag: c for c in PARTICIPANT_EVENTS},  # type: ignore[misc]
    "contact": {c.__struct_config__.tag: c for c in CONTACT_EVENTS},  # type: ignore[misc]
    "employer": {c.__struct_config__.tag: c for c in EMPLOYER_EVENTS},  # type: ignore[misc]
}
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    name: cls for by_type in EVENTS_BY_STREAM.values() for name, cls in by_type.items()
}
CREATION_EVENTS: Final[dict[str, type[Event]]] = {
    "participant": ParticipantEnrolled,
    "contact": ContactAdded,
    "employer": EmployerAdded,
}

SCHEMA_VERSION: Final[int] = 1


def type_name(event: Event) -> str:
    """The wire name of an event."""
    return type_name_of(type(event))


def type_name_of(cls: type[Event]) -> str:
    """The wire name of an event class."""
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def decode_data(event_type: str, data: bytes | dict[str, object]) -> Event:
    """Decode one event's ``data`` (JSON bytes or builtins) as the class its type names.

    Raises ``KeyError`` for an unknown type and ``msgspec.ValidationError`` naming the field.
    """
    cls = EVENT_TYPES[event_type]
    if isinstance(data, bytes | bytearray | memoryview):
        return msgspec.json.decode(data, type=cls)
    return msgspec.convert(data, type=cls)


_ENCODER = msgspec.json.Encoder(order="sorted")


def encode_data(event: Event) -> bytes:
    """Canonical JSON of an event's data (sorted keys, defaults omitted, no type tag)."""
    builtins = msgspec.to_builtins(event, order="sorted")
    assert isinstance(builtins, dict)
    builtins.pop("type", None)
    return _ENCODER.encode(builtins)
