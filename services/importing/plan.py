"""Which of an export's events can be stored, judged by the domain's own rules before anything is stored.

Pure: given the stored states of the streams the import touches (folded by the
caller), which event ids are stored already, and which other records and
counselors exist, ``plan_import`` walks the rows in recording order and judges
each with ``domain.rules.check_append`` exactly as ``Recorder.record`` will, so
that a dry run says what a real run does. A row that depends on a rejected row
(an outreach by a participant whose enrolment was rejected) is rejected with a
reason naming that row's line.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeAlias

import msgspec

from domain.events import CREATION_EVENTS, ParticipantEnrolled, encode_data, type_name
from domain.rules import References, RuleViolation, check_append, lookups_for
from domain.streams import Entry, StreamKind, StreamState, evolve, initial_state, stream_id_of, stream_kind
from services.importing.mapping import Candidate, ImportMapping, Rejection, RowKind

_OPENING: Final = tuple(CREATION_EVENTS.values())

RECORDING_ORDER: Final[dict[StreamKind, int]] = {"employer": 0, "contact": 1, "participant": 2}
"""Employers before the contacts who work there, both before the participants' events that name them."""


class Plan(msgspec.Struct, kw_only=True):
    """What an import stores, what is there already, and what it rejects."""

    to_record: list[Candidate]
    """In recording order: by record (employers, contacts, participants), each record's events opening first."""
    present: list[Candidate]
    """Stored already with the same content (a second run), or repeated in the file."""
    rejections: list[Rejection]
    counselors: dict[str, uuid.UUID]
    """Each participant stream's counselor: the actor of its events when no --as user is named."""
    rejected_records: dict[str, int]
    """Streams whose opening row was rejected, with its line: rows for or naming them are rejected too."""


def same_event(one: Candidate, other: Candidate) -> bool:
    """Whether two rows make the same event (stream, time and data)."""
    a, b = one.incoming, other.incoming
    return (
        a.stream_id == b.stream_id
        and a.occurred_at == b.occurred_at
        and type_name(a.event) == type_name(b.event)
        and encode_data(a.event) == encode_data(b.event)
    )


def recording_order(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Employers, then contacts, then participants; each record's events in time order, its opening first.

    Records keep the order of their first row in the file, so the report reads in file order within a kind.
    """
    first_line: dict[str, int] = {}
    for candidate in candidates:
        first_line.setdefault(candidate.incoming.stream_id, candidate.line)

    def key(candidate: Candidate) -> tuple[int, int, str, int, dt.datetime, int]:
        stream_id = candidate.incoming.stream_id
        opens = isinstance(candidate.incoming.event, _OPENING)
        return (
            RECORDING_ORDER[stream_kind(stream_id)],
            first_line[stream_id],
            stream_id,
            0 if opens else 1,
            candidate.incoming.occurred_at,
            candidate.line,
        )

    return sorted(candidates, key=key)


def plan_import(
    mapping: ImportMapping,
    mapped: Sequence[Candidate | Rejection],
    *,
    states: Mapping[str, StreamState],
    stored: Mapping[uuid.UUID, bool],
    existing: frozenset[str],
    counselors: frozenset[uuid.UUID],
    now: dt.datetime,
) -> Plan:
    """Judge every mapped row; see the module docstring.

    ``states``: the stored state of every stream a candidate goes to (initial for a new one);
    ``stored``: event ids stored already → whether with the same content; ``existing``: the stream ids of other
    records the rows name that exist (not removed); ``counselors``: the named user ids that may counsel.
    """
    plan = Plan(to_record=[], present=[], rejections=[], counselors={}, rejected_records={})
    working = dict(states)
    for item in mapped:
        if isinstance(item, Rejection):
            plan.rejections.append(item)
            if item.opens and item.stream_id:
                plan.rejected_records.setdefault(item.stream_id, item.line)
    seen: dict[uuid.UUID, tuple[Candidate, bool]] = {}
    for candidate in recording_order([item for item in mapped if isinstance(item, Candidate)]):
        incoming = candidate.incoming
        kind = mapping.kinds[candidate.kind]
        earlier = seen.get(incoming.event_id)
        if earlier is not None:
            first, accepted = earlier
            if not same_event(first, candidate):
                plan.rejections.append(
                    _rejection(candidate, "event_id", f"line {first.line} has the same key with other content", kind)
                )
            elif accepted:
                plan.present.append(candidate)
            else:
                plan.rejections.append(
                    _rejection(candidate, "event_id", f"the same as line {first.line}, which was rejected", kind)
                )
            continue
        verdict = stored.get(incoming.event_id)
        if verdict is not None:
            seen[incoming.event_id] = (candidate, verdict)
            if verdict:
                plan.present.append(candidate)
            else:
                plan.rejections.append(_rejection(candidate, "event_id", RECORDED_OTHERWISE, kind))
            continue
        state = working.get(incoming.stream_id) or initial_state(stream_kind(incoming.stream_id))
        entry = Entry(event_id=incoming.event_id, occurred_at=incoming.occurred_at, event=incoming.event)
        try:
            check_append(state, entry, _references(state.kind, entry, working, existing, counselors), now=now)
        except RuleViolation as violation:
            seen[incoming.event_id] = (candidate, False)
            plan.rejections.append(rule_rejection(candidate, violation, kind.column_of, plan.rejected_records))
            if kind.creates and not state.opened:
                plan.rejected_records.setdefault(incoming.stream_id, candidate.line)
            continue
        seen[incoming.event_id] = (candidate, True)
        working[incoming.stream_id] = evolve(state, entry)
        plan.to_record.append(candidate)
    for stream_id, state in working.items():
        creation = state.creation
        if creation is not None and isinstance(creation.event, ParticipantEnrolled):
            plan.counselors[stream_id] = creation.event.counselor_id
    plan.rejections.sort(key=lambda rejection: rejection.line)
    return plan


ColumnOf: TypeAlias = Callable[[str], str]
"""Tells the source column behind an event field (``RowKind.column_of``)."""

RECORDED_OTHERWISE: Final = (
    "an event with this row's key is recorded already with other content: a correction is recorded in "
    "PeopleLinks (void the entry and record the right one), not by importing the row again"
)


def _references(
    kind: StreamKind,
    entry: Entry,
    working: Mapping[str, StreamState],
    existing: frozenset[str],
    counselors: frozenset[uuid.UUID],
) -> References:
    """The named contacts and employers that exist (stored, or opened earlier in this import), and counselors."""

    def exists(of: StreamKind, record_id: uuid.UUID) -> bool:
        stream_id = stream_id_of(of, record_id)
        state = working.get(stream_id)
        return state.exists if state is not None else stream_id in existing

    wanted = lookups_for(kind, entry)
    return References(
        contacts=frozenset(c for c in wanted.contacts if exists("contact", c)),
        employers=frozenset(e for e in wanted.employers if exists("employer", e)),
        counselors=wanted.counselors & counselors,
    )


def rule_rejection(
    candidate: Candidate,
    violation: RuleViolation,
    column_of: ColumnOf,
    rejected_records: Mapping[str, int],
) -> Rejection:
    """A rule's refusal of a row, told in the export's terms: the column, and the rejected row it depends on."""
    incoming = candidate.incoming
    field = violation.field
    own_kind = stream_kind(incoming.stream_id)
    if field in {"type", "stream_id"} and incoming.stream_id in rejected_records:
        line = rejected_records[incoming.stream_id]
        return _with_column(candidate, "stream_id", f"this row's {own_kind} (line {line}) was rejected", column_of)
    named = _named_id(incoming.event, field)
    if named is not None:
        for of in ("contact", "employer"):
            line_of = rejected_records.get(stream_id_of(of, named))
            if line_of is not None:
                return _with_column(candidate, field, f"the {of} it names (line {line_of}) was rejected", column_of)
        for of, says in (("contact", "contact directory"), ("employer", "employer list")):
            if violation.message.startswith(f"{of} ") and says in violation.message:
                return _with_column(
                    candidate, field, f"names a {of} that is neither in this import nor in the programme", column_of
                )
    return _with_column(candidate, field, violation.message, column_of)


def _named_id(event: object, field: str) -> uuid.UUID | None:
    """The id an event holds at a ``data.…`` field, if it holds one there."""
    if not field.startswith("data.") or "[" in field:
        return None
    value = getattr(event, field.removeprefix("data."), None)
    return value if isinstance(value, uuid.UUID) else None


def _with_column(candidate: Candidate, field: str, reason: str, column_of: ColumnOf) -> Rejection:
    return Rejection(line=candidate.line, field=field, reason=reason, column=column_of(field))


def _rejection(candidate: Candidate, field: str, reason: str, kind: RowKind) -> Rejection:
    return _with_column(candidate, field, reason, kind.column_of)


def batches(to_record: Sequence[Candidate], size: int) -> list[list[Candidate]]:
    """Requests to the Recorder: each participant's events alone (their counselor is the actor), in chunks of at
    most ``size``; employers and contacts several records a request. ``to_record`` is in recording order."""
    requests: list[list[Candidate]] = []
    current: list[Candidate] = []
    current_stream = ""
    for candidate in to_record:
        stream_id = candidate.incoming.stream_id
        alone = stream_kind(stream_id) == "participant"
        new_stream = stream_id != current_stream
        if current and (len(current) >= size or (new_stream and (alone or _is_participant(current_stream)))):
            requests.append(current)
            current = []
        current.append(candidate)
        current_stream = stream_id
    if current:
        requests.append(current)
    return requests


def _is_participant(stream_id: str) -> bool:
    return bool(stream_id) and stream_kind(stream_id) == "participant"
