"""A builder for the event logs report tests start from: events appended in order, positions counted from 1."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import msgspec

from domain.reporting.facts import EventEnvelope, Facts, facts_from_events
from domain.reporting.scope import ReportParams

COUNSELOR = uuid.UUID("00000000-0000-4000-8000-000000000401")
OTHER_COUNSELOR = uuid.UUID("00000000-0000-4000-8000-000000000402")
EMPLOYER = uuid.UUID("00000000-0000-4000-8000-000000000301")


def at(day: str, time: str = "12:00:00", offset: str = "Z") -> dt.datetime:
    """An instant from a date, a time of day and an offset (``Z``, ``-05:00`` …)."""
    return dt.datetime.fromisoformat(f"{day}T{time}{'+00:00' if offset == 'Z' else offset}")


def on(day: str) -> dt.date:
    """A calendar date."""
    return dt.date.fromisoformat(day)


def params(from_: str, to: str, as_of: str, **extra: Any) -> ReportParams:
    """Report parameters from ISO dates."""
    return ReportParams(from_date=on(from_), to_date=on(to), as_of=on(as_of), **extra)


class History:
    """An event log under construction; each method appends one event and returns the id it created."""

    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []
        self.last_event = uuid.UUID(int=0)
        """The ``event_id`` of the last event appended by a method that returns another id."""

    def append(self, stream_id: str, event_type: str, occurred_at: dt.datetime, data: dict[str, object]) -> uuid.UUID:
        """Append one event; returns its ``event_id``."""
        event_id = uuid.uuid4()
        self.envelopes.append(
            EventEnvelope(
                stream_id=stream_id,
                event_id=event_id,
                global_position=len(self.envelopes) + 1,
                occurred_at=occurred_at,
                type=event_type,
                data=data,
            )
        )
        return event_id

    def commit_out_of_order(self, rng: random.Random) -> None:
        """Give the events transaction ids 1..n in a shuffled order: commit order is not position order."""
        txs = list(range(1, len(self.envelopes) + 1))
        rng.shuffle(txs)
        self.envelopes = [msgspec.structs.replace(e, tx=tx) for e, tx in zip(self.envelopes, txs, strict=True)]

    @property
    def position(self) -> int:
        """The position of the last event appended."""
        return len(self.envelopes)

    def facts(self) -> Facts:
        """The facts the log folds into."""
        return facts_from_events(self.envelopes)

    # --- participants ------------------------------------------------------------------------------------------------

    def enrol(
        self,
        enrolled_on: str,
        *,
        occurred_at: dt.datetime | None = None,
        counselor: uuid.UUID = COUNSELOR,
        cohort: str | None = None,
        **profile: object,
    ) -> uuid.UUID:
        """Enrol a new participant; returns the participant id."""
        participant = uuid.uuid4()
        data: dict[str, object] = {
            "enrolled_on": enrolled_on,
            "counselor_id": str(counselor),
            "profile": {"display_name": "Someone", **profile},
        }
        if cohort is not None:
            data["cohort"] = cohort
        self.last_event = self.append(
            f"participant-{participant}", "participant_enrolled", occurred_at or at(enrolled_on), data
        )
        return participant

    def event(self, participant: uuid.UUID, event_type: str, occurred_at: dt.datetime, **data: object) -> uuid.UUID:
        """Append any participant event; returns its ``event_id``."""
        clean = {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in data.items()}
        return self.append(f"participant-{participant}", event_type, occurred_at, clean)

    def assign(self, participant: uuid.UUID, counselor: uuid.UUID, occurred_at: dt.datetime) -> uuid.UUID:
        """Reassign the participant's counselor; returns the event id."""
        return self.event(participant, "counselor_assigned", occurred_at, counselor_id=counselor)

    def outreach(
        self,
        participant: uuid.UUID,
        occurred_at: dt.datetime,
        *,
        contact: uuid.UUID | None = None,
        channel: str = "email",
        purpose: str = "introduction",
        follow_up_of: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Send an outreach; returns the outreach id (the event id is ``last_event``)."""
        outreach = uuid.uuid4()
        data: dict[str, object] = {
            "outreach_id": outreach,
            "contact_id": contact or uuid.uuid4(),
            "channel": channel,
            "purpose": purpose,
        }
        if follow_up_of is not None:
            data["follow_up_of"] = follow_up_of
        self.last_event = self.event(participant, "outreach_sent", occurred_at, **data)
        return outreach

    def respond(
        self, participant: uuid.UUID, outreach: uuid.UUID, occurred_at: dt.datetime, outcome: str = "neutral"
    ) -> uuid.UUID:
        """Record a response; returns the event id."""
        return self.event(participant, "response_received", occurred_at, outreach_id=outreach, outcome=outcome)

    def hire(
        self,
        participant: uuid.UUID,
        start_date: str,
        *,
        occurred_at: dt.datetime | None = None,
        source: str = "walk_in",
        wage: str | None = "16.00",
        via: uuid.UUID | None = None,
        application: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Record a hire; returns the job id (the event id is ``last_event``)."""
        job = uuid.uuid4()
        data: dict[str, object] = {
            "job_id": job,
            "employer_id": EMPLOYER,
            "title": "worker",
            "start_date": start_date,
            "source": source,
        }
        if wage is not None:
            data["hourly_wage"] = wage
        if via is not None:
            data["via_contact_id"] = via
        if application is not None:
            data["application_id"] = application
        self.last_event = self.event(participant, "hired", occurred_at or at(start_date), **data)
        return job

    def verify(self, participant: uuid.UUID, job: uuid.UUID, verified_on: str) -> uuid.UUID:
        """Verify employment; returns the event id."""
        return self.event(
            participant, "employment_verified", at(verified_on), job_id=job, verified_on=verified_on, method="pay_stub"
        )

    def end_job(self, participant: uuid.UUID, job: uuid.UUID, ended_on: str, reason: str = "quit") -> uuid.UUID:
        """End a job; returns the event id."""
        return self.event(participant, "job_ended", at(ended_on), job_id=job, ended_on=ended_on, reason=reason)

    def promote(
        self, participant: uuid.UUID, job: uuid.UUID, promoted_on: str, occurred_at: dt.datetime | None = None
    ) -> uuid.UUID:
        """Promote in a job; returns the event id."""
        return self.event(
            participant,
            "promoted",
            occurred_at or at(promoted_on),
            job_id=job,
            promoted_on=promoted_on,
            new_title="lead",
        )

    def exit(self, participant: uuid.UUID, exited_on: str, reason: str = "completed") -> uuid.UUID:
        """Record the participant's exit; returns the event id."""
        return self.event(participant, "participant_exited", at(exited_on), exited_on=exited_on, reason=reason)

    def refer(self, participant: uuid.UUID, contact: uuid.UUID, occurred_at: dt.datetime) -> uuid.UUID:
        """Record a referral by a contact; returns the referral id."""
        referral = uuid.uuid4()
        self.last_event = self.event(
            participant, "referral_made", occurred_at, referral_id=referral, contact_id=contact
        )
        return referral

    def apply_for(
        self, participant: uuid.UUID, occurred_at: dt.datetime, *, referral: uuid.UUID | None = None
    ) -> uuid.UUID:
        """Submit an application (naming a referral, if any); returns the application id."""
        application = uuid.uuid4()
        data: dict[str, object] = {
            "application_id": application,
            "employer_id": EMPLOYER,
            "position": "worker",
            "route": "online" if referral is None else "referral",
        }
        if referral is not None:
            data["referral_id"] = referral
        self.last_event = self.event(participant, "application_submitted", occurred_at, **data)
        return application

    def void(self, stream_id: str, voided_event: uuid.UUID, occurred_at: dt.datetime) -> uuid.UUID:
        """Void an event of a stream; returns the void's event id."""
        return self.append(
            stream_id, "entry_voided", occurred_at, {"voided_event_id": str(voided_event), "reason": "mistake"}
        )

    def void_in(self, participant: uuid.UUID, voided_event: uuid.UUID, occurred_at: dt.datetime) -> uuid.UUID:
        """Void an event of a participant's stream."""
        return self.void(f"participant-{participant}", voided_event, occurred_at)

    # --- contacts ----------------------------------------------------------------------------------------------------

    def add_contact(self, occurred_at: dt.datetime | None = None) -> uuid.UUID:
        """Add a contact to the directory; returns the contact id (the event id is ``last_event``)."""
        contact = uuid.uuid4()
        self.last_event = self.append(
            f"contact-{contact}", "contact_added", occurred_at or at("2024-01-01"), {"name": "A Contact"}
        )
        return contact
