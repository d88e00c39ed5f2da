"""What one stream's history amounts to: its state, and the pure fold that builds it.

``evolve`` and ``fold`` trust the history they are given (it was checked when it
was appended); the checks themselves live in ``domain.rules``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from datetime import datetime
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

__all__ = [
    "STREAM_KINDS",
    "Entry",
    "Made",
    "RuleViolation",
    "StreamKind",
    "StreamState",
    "evolve",
    "fold",
    "initial_state",
    "stream_id_of",
    "stream_kind",
]

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


class StreamState(msgspec.Struct, frozen=True, kw_only=True, eq=False):
    """What a stream's history amounts to, as far as the append rules need to know.

    One shape serves all three kinds; the participant-only facts (outreach,
    jobs, exits, …) are simply absent on contact and employer streams. A state
    never changes once built: it sees exactly the first ``version`` entries of
    its ``_Log``, even when later states of the same line have appended more.
    Compare states by what they say (``history``, ``exists``, …), not with ``==``.
    """

    kind: StreamKind
    version: int
    """Number of events folded: the ``stream_version`` of the last one, 0 for a new stream."""
    _log: _Log

    @property
    def opened(self) -> bool:
        """Whether the creation event has been folded (voided or not)."""
        return self.creation is not None

    @property
    def exists(self) -> bool:
        """Whether the creation event has been folded and not voided."""
        creation = self.creation
        return creation is not None and not self.is_voided(creation.event_id)

    @property
    def creation(self) -> Entry | None:
        """The entry that opened the stream, voided or not."""
        return self._at(self._log.creation)

    @property
    def history(self) -> tuple[Entry, ...]:
        """Every folded entry in stream order, voided ones and voids included."""
        return tuple(self._log.by_position[: self.version])

    def entry(self, event_id: uuid.UUID) -> Entry | None:
        """The folded entry with this ``event_id``, if the stream holds one."""
        return self._at(self._log.index.get(event_id))

    def voided_by(self, event_id: uuid.UUID) -> Entry | None:
        """The ``entry_voided`` that voided this event, if one did."""
        return self._at(self._log.voided.get(event_id))

    def is_voided(self, event_id: uuid.UUID) -> bool:
        """Whether the event with this id has been voided."""
        return self.voided_by(event_id) is not None

    def creator(self, what: Made, thing_id: uuid.UUID) -> Entry | None:
        """The entry that created this outreach, job, … whether or not it was voided since."""
        return self._at(self._log.made.get((what, thing_id)))

    def live(self, what: Made, thing_id: uuid.UUID) -> Entry | None:
        """The entry that created this outreach, job, … if it exists and is not voided."""
        creator = self.creator(what, thing_id)
        if creator is None or self.is_voided(creator.event_id):
            return None
        return creator

    @property
    def exit(self) -> Entry | None:
        """The participant's exit that still counts (not voided), if any."""
        for position in reversed(self._log.exits):
            if position < self.version:
                exit_entry = self._log.by_position[position]
                if not self.is_voided(exit_entry.event_id):
                    return exit_entry
        return None

    def _at(self, position: int | None) -> Entry | None:
        """The entry at this position if this state can see it."""
        if position is None or position >= self.version:
            return None
        return self._log.by_position[position]


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
    return StreamState(kind=kind, version=0, _log=_Log())


def evolve(state: StreamState, entry: Entry) -> StreamState:
    """The state after one more entry. Pure: ``state`` is left as it was. Does not validate.

    Amortised O(1): the new state appends to the log it shares with ``state``
    unless a newer state already did (``state`` was evolved before), in which
    case it branches off a copy of what ``state`` sees.
    """
    log = state._log
    with log.lock:  # the head check and the append must be one step when threads share a state
        if log.head != state.version:
            log = log.up_to(state.version)
        log.append(entry)
    return StreamState(kind=state.kind, version=state.version + 1, _log=log)


def fold(kind: StreamKind, entries: Iterable[Entry]) -> StreamState:
    """The state of a stream of this kind after these entries, in stream order. Does not validate."""
    log = _Log()
    for entry in entries:
        log.append(entry)
    return StreamState(kind=kind, version=log.head, _log=log)


class _Log:
    """The append-only, position-stamped facts that a line of states shares.

    A fact is stamped with the position (0-based) of the entry that made it and
    is never changed or removed, so a state of version ``v`` reads the log as it
    was after ``v`` entries by ignoring positions ``>= v``. Where history would
    say a fact twice (it never does once checked), the first one stands.
    """

    __slots__ = ("by_position", "creation", "exits", "index", "lock", "made", "voided")

    def __init__(self) -> None:
        self.by_position: list[Entry] = []
        self.index: dict[uuid.UUID, int] = {}
        """``event_id`` → position."""
        self.creation: int | None = None
        """Position of the creation event."""
        self.voided: dict[uuid.UUID, int] = {}
        """Voided ``event_id`` → position of the ``entry_voided`` that voided it."""
        self.made: dict[tuple[Made, uuid.UUID], int] = {}
        """(what, its id) → position of the event that created it."""
        self.exits: list[int] = []
        """Positions of every ``participant_exited``."""
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<log of {self.head} entries>"

    @property
    def head(self) -> int:
        """How many entries the log holds."""
        return len(self.by_position)

    def up_to(self, version: int) -> _Log:
        """A new log holding only the facts of the first ``version`` entries."""
        copy = _Log()
        copy.by_position = self.by_position[:version]
        copy.index = {key: position for key, position in self.index.items() if position < version}
        copy.creation = self.creation if self.creation is not None and self.creation < version else None
        copy.voided = {key: position for key, position in self.voided.items() if position < version}
        copy.made = {key: position for key, position in self.made.items() if position < version}
        copy.exits = [position for position in self.exits if position < version]
        return copy

    def append(self, entry: Entry) -> None:
        """Add one entry and the facts it states."""
        position = len(self.by_position)
        self.by_position.append(entry)
        self.index.setdefault(entry.event_id, position)
        match entry.event:
            case ParticipantEnrolled() | ContactAdded() | EmployerAdded():
                if self.creation is None:
                    self.creation = position
            case OutreachSent(outreach_id=thing_id):
                self.made.setdefault(("outreach", thing_id), position)
            case MeetingHeld(meeting_id=thing_id):
                self.made.setdefault(("meeting", thing_id), position)
            case ReferralMade(referral_id=thing_id):
                self.made.setdefault(("referral", thing_id), position)
            case ApplicationSubmitted(application_id=thing_id):
                self.made.setdefault(("application", thing_id), position)
            case Hired(job_id=thing_id):
                self.made.setdefault(("job", thing_id), position)
            case ParticipantExited():
                self.exits.append(position)
            case EntryVoided(voided_event_id=voided_event_id):
                self.voided.setdefault(voided_event_id, position)
            case _:
                pass
