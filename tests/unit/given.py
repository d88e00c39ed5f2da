"""Builders for the histories unit tests start from: entries, events and the programme's records."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from domain.events import (
    ApplicationSubmitted,
    ContactAdded,
    EmployerAdded,
    EntryVoided,
    Event,
    Hired,
    MeetingHeld,
    OutreachSent,
    ParticipantEnrolled,
    ParticipantExited,
    Profile,
    ReferralMade,
    StreamKind,
)
from domain.rules import References, check_append
from domain.streams import Entry, StreamState, fold

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""When the participant enrolled; other times are given relative to it."""
NOW = START + timedelta(days=60)
"""The clock every check runs at unless a test says otherwise."""

COUNSELOR = uuid.UUID("00000000-0000-4000-8000-00000000c001")
CONTACT = uuid.UUID("00000000-0000-4000-8000-00000000c0c1")
OTHER_CONTACT = uuid.UUID("00000000-0000-4000-8000-00000000c0c2")
EMPLOYER = uuid.UUID("00000000-0000-4000-8000-00000000e001")
STRANGER = uuid.UUID("00000000-0000-4000-8000-0000000bad00")
"""An id the programme does not know (say, another programme's record)."""

PROGRAMME = References(
    contacts=frozenset({CONTACT, OTHER_CONTACT}),
    employers=frozenset({EMPLOYER}),
    counselors=frozenset({COUNSELOR}),
)


def new_id() -> uuid.UUID:
    """A fresh client-chosen id."""
    return uuid.uuid4()


def day(days: float) -> datetime:
    """``days`` after enrolment."""
    return START + timedelta(days=days)


def entry(event: Event, *, on: datetime = START, event_id: uuid.UUID | None = None) -> Entry:
    """An entry carrying ``event`` that happened ``on``."""
    return Entry(event_id=event_id or new_id(), occurred_at=on, event=event)


def enrolled(counselor_id: uuid.UUID = COUNSELOR) -> ParticipantEnrolled:
    """A participant's enrolment on the day the history starts."""
    return ParticipantEnrolled(
        enrolled_on=START.date(), counselor_id=counselor_id, profile=Profile(display_name="Dana")
    )


def contact_added(employer_id: uuid.UUID | None = None) -> ContactAdded:
    """A contact entered in the directory."""
    return ContactAdded(name="Sam Ortiz", employer_id=employer_id)


def employer_added() -> EmployerAdded:
    """An employer entered in the programme's list."""
    return EmployerAdded(name="Harbor Foods", fair_chance=True)


CREATION: dict[StreamKind, Event] = {
    "participant": enrolled(),
    "contact": contact_added(),
    "employer": employer_added(),
}


def outreach_sent(
    outreach_id: uuid.UUID, *, contact_id: uuid.UUID = CONTACT, follow_up_of: uuid.UUID | None = None
) -> OutreachSent:
    """An introduction email to a contact."""
    return OutreachSent(
        outreach_id=outreach_id,
        contact_id=contact_id,
        channel="email",
        purpose="follow_up" if follow_up_of else "introduction",
        follow_up_of=follow_up_of,
    )


def meeting_held(meeting_id: uuid.UUID, *, contact_id: uuid.UUID = CONTACT) -> MeetingHeld:
    """A coffee with a contact."""
    return MeetingHeld(meeting_id=meeting_id, contact_id=contact_id, format="in_person", kind="coffee")


def referral_made(referral_id: uuid.UUID, *, contact_id: uuid.UUID = CONTACT) -> ReferralMade:
    """A contact referring the participant to the employer."""
    return ReferralMade(referral_id=referral_id, contact_id=contact_id, employer_id=EMPLOYER)


def application_submitted(
    application_id: uuid.UUID, *, referral_id: uuid.UUID | None = None, employer_id: uuid.UUID = EMPLOYER
) -> ApplicationSubmitted:
    """An application to the employer."""
    return ApplicationSubmitted(
        application_id=application_id,
        employer_id=employer_id,
        position="Line cook",
        route="referral" if referral_id else "online",
        referral_id=referral_id,
    )


def hired(
    job_id: uuid.UUID,
    *,
    start_date: date = date(2026, 12, 1),
    application_id: uuid.UUID | None = None,
    employer_id: uuid.UUID = EMPLOYER,
    via_contact_id: uuid.UUID | None = None,
) -> Hired:
    """A hire at the employer."""
    return Hired(
        job_id=job_id,
        employer_id=employer_id,
        title="Line cook",
        start_date=start_date,
        source="referral",
        hourly_wage="17.50",
        application_id=application_id,
        via_contact_id=via_contact_id,
    )


def exited(on: date = date(2026, 12, 15)) -> ParticipantExited:
    """The participant leaving the programme."""
    return ParticipantExited(exited_on=on, reason="completed")


def voided(event_id: uuid.UUID) -> EntryVoided:
    """A void of an earlier event."""
    return EntryVoided(voided_event_id=event_id, reason="entered by mistake")


def participant(*entries: Entry) -> StreamState:
    """A participant enrolled at ``START`` followed by ``entries``."""
    return fold("participant", (entry(enrolled()), *entries))


def check(state: StreamState, candidate: Entry, *, refs: References = PROGRAMME, now: datetime = NOW) -> None:
    """``check_append`` with the programme's records and the usual clock."""
    check_append(state, candidate, refs, now=now)
