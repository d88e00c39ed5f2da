"""What one stream's history amounts to: its state, and the pure fold that builds it.

``evolve`` and ``fold`` trust the history they are given (it was checked when it
was appended); the checks themselves live in ``domain.rules``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, get_args

import msgspec

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
    ReferralMade,
    StreamKind,
)

Made: TypeAlias = Literal["outreach", "meeting", "referral", "application", "job"]
"""The things a participant event creates and later events refer to by id."""

STREAM_KINDS: Final[tuple[StreamKind, ...]] = get_args(StreamKind)


class RuleViolation(Exception):
    """An append the rules refuse: ``field`` names what is wrong, ``message`` says why to a counselor.

    ``field`` is a path into the envelope: ``"type"``, ``"occurred_at"``,
    ``"data.contact_id"``, ``"data.target_employer_ids[1]"``, ``"stream_id"``.
    Re-exported by ``domain.rules``, which is where callers import it from; it is
    defined here only because ``stream_kind`` raises it too.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Entry(msgspec.Struct, frozen=True):
    """The domain's minimal view of a recorded or incoming event."""

    event_id: uuid.UUID
    occurred_at: datetime
    event: Event


class StreamState(msgspec.Struct, frozen=True, kw_only=True):
    """What a stream's history amounts to, as far as the append rules need to know.

    One shape serves all three kinds; the participant-only facts (``made``,
    ``exit_event_ids``) stay empty on contact and employer streams. The mappings
    are read-only views that no other state shares, so a state never changes
    once built.
    """

    kind: StreamKind
    version: int
    """Number of events folded: the ``stream_version`` of the last one, 0 for a new stream."""
    creation_event_id: uuid.UUID | None
    entries: Mapping[uuid.UUID, Entry]
    """Every folded entry by ``event_id``, voided ones and voids included."""
    voided: Mapping[uuid.UUID, uuid.UUID]
    """Voided ``event_id`` → the ``event_id`` of the ``entry_voided`` that voided it."""
    made: Mapping[tuple[Made, uuid.UUID], uuid.UUID]
    """(what, its id) → ``event_id`` of the event that created it, voided or not."""
    exit_event_ids: tuple[uuid.UUID, ...]
    """Every ``participant_exited`` folded, in order, voided ones included."""

    @property
    def opened(self) -> bool:
        """Whether the creation event has been folded (voided or not)."""
        return self.creation_event_id is not None

    @property
    def exists(self) -> bool:
        """Whether the creation event has been folded and not voided."""
        return self.creation_event_id is not None and self.creation_event_id not in self.voided

    def is_voided(self, event_id: uuid.UUID) -> bool:
        """Whether the event with this id has been voided."""
        return event_id in self.voided

    def creator(self, what: Made, thing_id: uuid.UUID) -> Entry | None:
        """The entry that created this outreach, job, … whether or not it was voided since."""
        event_id = self.made.get((what, thing_id))
        return None if event_id is None else self.entries[event_id]

    def live(self, what: Made, thing_id: uuid.UUID) -> Entry | None:
        """The entry that created this outreach, job, … if it exists and is not voided."""
        event_id = self.made.get((what, thing_id))
        if event_id is None or event_id in self.voided:
            return None
        return self.entries[event_id]

    @property
    def exit(self) -> Entry | None:
        """The participant's exit that still counts (not voided), if any."""
        for event_id in reversed(self.exit_event_ids):
            if event_id not in self.voided:
                return self.entries[event_id]
        return None


def stream_kind(stream_id: str) -> StreamKind:
    """The kind of a stream from its id, ``participant-<uuid>`` → ``"participant"``.

    The uuid must be in canonical lower-case hyphenated form so that one record
    never has two stream ids.
    """
    prefix, _, rest = stream_id.partition("-")
    for kind in STREAM_KINDS:
        if prefix == kind:
            try:
                canonical = str(uuid.UUID(rest))
            except ValueError:
                canonical = None
            if canonical == rest:
                return kind
    raise RuleViolation(
        "stream_id",
        f"{stream_id!r} is not a stream id; expected participant-, contact- or employer- followed by a "
        "lower-case uuid such as participant-0b9f6d0e-1f7a-4a53-9a53-6c1d0b1f1e01",
    )


def stream_id_of(kind: StreamKind, record_id: uuid.UUID) -> str:
    """The stream id of one participant, contact or employer: ``contact-<uuid>``."""
    return f"{kind}-{record_id}"


def initial_state(kind: StreamKind) -> StreamState:
    """The state of a stream nothing has been appended to: version 0, does not exist yet."""
    return StreamState(
        kind=kind,
        version=0,
        creation_event_id=None,
        entries=MappingProxyType({}),
        voided=MappingProxyType({}),
        made=MappingProxyType({}),
        exit_event_ids=(),
    )


def evolve(state: StreamState, entry: Entry) -> StreamState:
    """The state after one more entry. Pure: ``state`` is left as it was. Does not validate."""
    draft = _Draft(state)
    draft.apply(entry)
    return draft.freeze()


def fold(kind: StreamKind, entries: Iterable[Entry]) -> StreamState:
    """The state of a stream of this kind after these entries, in stream order. Does not validate."""
    draft = _Draft(initial_state(kind))
    for entry in entries:
        draft.apply(entry)
    return draft.freeze()


class _Draft:
    """A private, mutable copy of a state that one ``evolve`` or ``fold`` fills, then freezes.

    Copying the mappings once per call, not once per event, is what keeps a fold
    of a long stream linear; the draft is dropped after ``freeze``, so the frozen
    state's views have no other owner.
    """

    __slots__ = ("creation_event_id", "entries", "exit_event_ids", "kind", "made", "version", "voided")

    def __init__(self, state: StreamState) -> None:
        self.kind: StreamKind = state.kind
        self.version = state.version
        self.creation_event_id = state.creation_event_id
        self.entries = dict(state.entries)
        self.voided = dict(state.voided)
        self.made = dict(state.made)
        self.exit_event_ids = list(state.exit_event_ids)

    def apply(self, entry: Entry) -> None:
        """Fold one entry into the draft."""
        self.version += 1
        self.entries[entry.event_id] = entry
        match entry.event:
            case ParticipantEnrolled() | ContactAdded() | EmployerAdded():
                if self.creation_event_id is None:
                    self.creation_event_id = entry.event_id
            case OutreachSent(outreach_id=thing_id):
                self.made[("outreach", thing_id)] = entry.event_id
            case MeetingHeld(meeting_id=thing_id):
                self.made[("meeting", thing_id)] = entry.event_id
            case ReferralMade(referral_id=thing_id):
                self.made[("referral", thing_id)] = entry.event_id
            case ApplicationSubmitted(application_id=thing_id):
                self.made[("application", thing_id)] = entry.event_id
            case Hired(job_id=thing_id):
                self.made[("job", thing_id)] = entry.event_id
            case ParticipantExited():
                self.exit_event_ids.append(entry.event_id)
            case EntryVoided(voided_event_id=voided_event_id):
                self.voided.setdefault(voided_event_id, entry.event_id)
            case _:
                pass

    def freeze(self) -> StreamState:
        """The immutable state this draft describes."""
        return StreamState(
            kind=self.kind,
            version=self.version,
            creation_event_id=self.creation_event_id,
            entries=MappingProxyType(self.entries),
            voided=MappingProxyType(self.voided),
            made=MappingProxyType(self.made),
            exit_event_ids=tuple(self.exit_event_ids),
        )
