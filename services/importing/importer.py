"""``peoplelinks import``: read an export, map its rows, judge them, and record the good ones through the Recorder.

The steps: read the mapping and the file; map every row (``mapping.map_row``);
load, read-only, what the rules need (the stored states of the streams the
rows go to, which of their event ids are stored, the records and counselors
they name); judge every row (``plan.plan_import``). A dry run stops there. A
real run records the accepted rows through ``Recorder.record``, the one path
every event takes (personal fields are sealed there), one participant's
events a request; a request the Recorder refuses (another process moved a
stream on meanwhile) is recorded again row by row, so that the row at fault is
rejected alone.

Nothing here logs a row's values: the report names lines, columns and fields.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import asyncpg
import msgspec

from domain.events import type_name
from domain.rules import RuleViolation, lookups_for
from domain.streams import Entry, StreamState, fold, stream_id_of, stream_kind
from infra.accounts import COUNSELING_ROLES, counselors_among
from infra.crypto import Subject, SubjectKeys
from infra.db import Connection, connect_owner, create_app_pool, tenant_connection
from infra.event_store import EventStore, Metadata
from infra.settings import Settings
from services.importing.mapping import (
    Candidate,
    ImportMapping,
    MappingContext,
    MappingError,
    Rejection,
    Skipped,
    SourceFormat,
    load_mapping,
    map_row,
    namespace_of,
)
from services.importing.plan import Plan, batches, plan_import, rule_rejection
from services.importing.source import SourceError, format_of, read_rows
from services.recording import EventIdReused, Recorder, StreamBusy, VersionMismatch, entry_of, same_content

Progress = Callable[[str, int, int], None]
"""Told (phase, rows done, rows in all) as an import goes: "mapping", "checking", "recording"."""

_CHUNK = 1000  # ids a query asks about at once
_T = TypeVar("_T")


class ImportRefused(Exception):
    """The import cannot start: the mapping, the file, the programme or the acting user is not usable."""


class ImportOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``peoplelinks import`` was asked to do."""

    file: Path
    mapping: Path
    programme: str
    """The programme's id, or its exact name."""
    actor_email: str | None = None
    source_format: SourceFormat | None = None
    kind: str | None = None
    dry_run: bool = False
    batch_size: int = 200


class ImportReport(msgspec.Struct, kw_only=True):
    """What an import did (or, dry, would do)."""

    programme_id: uuid.UUID
    dry_run: bool
    rows: int = 0
    skipped: int = 0
    stored: int = 0
    """Events stored by this run (a dry run: that it would store)."""
    present: int = 0
    """Rows whose event was stored already, or that repeat an earlier row of the file."""
    by_type: dict[str, int] = msgspec.field(default_factory=dict)
    """Events stored (or that would be) by type."""
    rejections: list[Rejection] = msgspec.field(default_factory=list)
    correlation_id: uuid.UUID | None = None
    """Carried by every event this run stored: finds them again."""


class _Programme(msgspec.Struct, frozen=True, kw_only=True):
    programme_id: uuid.UUID
    time_zone: dt.tzinfo
    users_by_email: dict[str, uuid.UUID]
    actor_id: uuid.UUID | None


async def run_import(settings: Settings, options: ImportOptions, progress: Progress | None = None) -> ImportReport:
    """Import one export into one programme; see the module docstring. Raises ``ImportRefused`` before any row."""
    tell = progress or (lambda _phase, _done, _total: None)
    try:
        mapping = load_mapping(options.mapping)
        mapping.check_kind_option(options.kind)
        fmt = format_of(options.file, options.source_format or mapping.source.format)
        rows = read_rows(options.file, fmt, delimiter=mapping.source.delimiter, encoding=mapping.source.encoding)
    except (MappingError, SourceError) as e:
        raise ImportRefused(str(e)) from None
    owner = await connect_owner(settings)
    try:
        programme = await _programme(owner, options)
    finally:
        await owner.close()
    context = MappingContext(
        namespace=namespace_of(programme.programme_id, mapping.source.system),
        time_zone=programme.time_zone,
        users_by_email=programme.users_by_email,
    )
    report = ImportReport(programme_id=programme.programme_id, dry_run=options.dry_run, rows=len(rows))
    mapped: list[Candidate | Rejection] = []
    for done, row in enumerate(rows, start=1):
        item = row if isinstance(row, Rejection) else map_row(mapping, row, context, kind_name=options.kind)
        if isinstance(item, Skipped):
            report.skipped += 1
        else:
            mapped.append(item)
        if done % 500 == 0 or done == len(rows):
            tell("mapping", done, len(rows))
    pool = await create_app_pool(settings, min_size=1, max_size=2)
    try:
        plan = await _plan(pool, programme.programme_id, mapping, mapped, SubjectKeys.from_settings(settings))
        tell("checking", len(rows), len(rows))
        report.present = len(plan.present)
        if options.dry_run:
            report.stored = len(plan.to_record)
            report.by_type = _by_type(plan.to_record)
            report.rejections = plan.rejections
        else:
            recorder = Recorder(EventStore(pool), keys=SubjectKeys.from_settings(settings))
            await _record(recorder, programme, mapping, plan, options, report, tell)
    finally:
        await pool.close()
    return report


async def _programme(owner: asyncpg.Connection, options: ImportOptions) -> _Programme:
    """The programme named by id or exact name, its users by e-mail, and the acting user of ``--as``."""
    try:
        wanted = uuid.UUID(options.programme)
        rows = await owner.fetch("SELECT programme_id, time_zone FROM programmes WHERE programme_id = $1", wanted)
    except ValueError:
        rows = await owner.fetch("SELECT programme_id, time_zone FROM programmes WHERE name = $1", options.programme)
    if len(rows) != 1:
        problem = "no programme has" if not rows else "several programmes have"
        raise ImportRefused(f"{problem} this id or name: pass --programme with the id that `programme create` printed")
    programme_id = rows[0]["programme_id"]
    users = await owner.fetch(
        "SELECT user_id, email, role, disabled_at IS NULL AS active FROM users WHERE programme_id = $1", programme_id
    )
    by_email = {row["email"].lower(): row["user_id"] for row in users}
    actor_id = None
    if options.actor_email is not None:
        actor = next((row for row in users if row["email"].lower() == options.actor_email.lower()), None)
        if actor is None or not actor["active"] or actor["role"] not in COUNSELING_ROLES:
            raise ImportRefused(
                "--as must name an active admin, staff member or counselor of the programme (by e-mail address)"
            )
        actor_id = actor["user_id"]
    return _Programme(
        programme_id=programme_id,
        time_zone=zoneinfo.ZoneInfo(rows[0]["time_zone"]),
        users_by_email=by_email,
        actor_id=actor_id,
    )


async def _plan(
    pool: asyncpg.Pool,
    programme_id: uuid.UUID,
    mapping: ImportMapping,
    mapped: Sequence[Candidate | Rejection],
    keys: SubjectKeys,
) -> Plan:
    """Load, read-only, what the rules need, and judge every row (``plan_import``)."""
    candidates = [item for item in mapped if isinstance(item, Candidate)]
    stream_ids = list(dict.fromkeys(c.incoming.stream_id for c in candidates))
    store = EventStore(pool)
    async with tenant_connection(pool, programme_id) as conn:
        stored = await _stored(conn, store, keys, programme_id, candidates)
        states: dict[str, StreamState] = {}
        for chunk in _chunks(stream_ids):
            for stream_id, events in (await store.read_streams(conn, programme_id, chunk)).items():
                states[stream_id] = fold(stream_kind(stream_id), (entry_of(e) for e in events))
        named: set[str] = set()
        counselor_ids: set[uuid.UUID] = set()
        for c in candidates:
            entry = Entry(event_id=c.incoming.event_id, occurred_at=c.incoming.occurred_at, event=c.incoming.event)
            wanted = lookups_for(stream_kind(c.incoming.stream_id), entry)
            named |= {stream_id_of("contact", i) for i in wanted.contacts}
            named |= {stream_id_of("employer", i) for i in wanted.employers}
            counselor_ids |= wanted.counselors
        elsewhere = sorted(named - states.keys())
        existing: set[str] = set()
        for chunk in _chunks(elsewhere):
            existing |= await store.existing_records(conn, programme_id, chunk)
        counselors = await counselors_among(conn, programme_id, counselor_ids)
    return plan_import(
        mapping,
        mapped,
        states=states,
        stored=stored,
        existing=frozenset(existing),
        counselors=counselors,
        now=dt.datetime.now(dt.UTC),
    )


async def _stored(
    conn: Connection, store: EventStore, keys: SubjectKeys, programme_id: uuid.UUID, candidates: Sequence[Candidate]
) -> dict[uuid.UUID, bool]:
    """The candidates' event ids stored already → whether with the same content (personal fields compared opened)."""
    first: dict[uuid.UUID, Candidate] = {}
    for candidate in candidates:
        first.setdefault(candidate.incoming.event_id, candidate)
    verdicts: dict[uuid.UUID, bool] = {}
    for chunk in _chunks(list(first)):
        found = await store.find_events(conn, programme_id, chunk)
        if not found:
            continue
        opened = await keys.open_events(conn, programme_id, found)
        for event in opened.events:
            incoming = first[event.event_id].incoming
            erased = Subject.of_stream(incoming.stream_id) in opened.erased
            verdicts[event.event_id] = same_content(event, incoming, erased=erased)
    return verdicts


async def _record(
    recorder: Recorder,
    programme: _Programme,
    mapping: ImportMapping,
    plan: Plan,
    options: ImportOptions,
    report: ImportReport,
    tell: Progress,
) -> None:
    """Record the plan's rows a request at a time; a refused request row by row, so only its culprit is rejected."""
    correlation_id = uuid.uuid4()
    report.correlation_id = correlation_id
    rejected_records = dict(plan.rejected_records)
    rejections = list(plan.rejections)
    stored: list[Candidate] = []
    done, total = 0, len(plan.to_record)
    for request in batches(plan.to_record, options.batch_size):
        stream_id = request[0].incoming.stream_id
        actor = programme.actor_id or plan.counselors.get(stream_id)
        metadata = Metadata(programme_id=programme.programme_id, actor_id=actor, correlation_id=correlation_id)
        try:
            outcome = await recorder.record(programme.programme_id, [c.incoming for c in request], metadata)
        except (RuleViolation, EventIdReused, VersionMismatch, StreamBusy):
            for candidate in request:
                try:
                    outcome = await recorder.record(programme.programme_id, [candidate.incoming], metadata)
                except (RuleViolation, EventIdReused, VersionMismatch, StreamBusy) as refused:
                    rejections.append(_refusal(mapping, candidate, refused, rejected_records))
                    if mapping.kinds[candidate.kind].creates:
                        rejected_records.setdefault(candidate.incoming.stream_id, candidate.line)
                    continue
                if outcome.replayed:
                    report.present += 1
                else:
                    stored.append(candidate)
        else:
            if outcome.replayed:  # stored by another run since the plan was made
                report.present += len(request)
            else:
                stored.extend(request)
        done += len(request)
        tell("recording", done, total)
    report.stored = len(stored)
    report.by_type = _by_type(stored)
    report.rejections = sorted(rejections, key=lambda rejection: rejection.line)


def _refusal(
    mapping: ImportMapping,
    candidate: Candidate,
    refused: Exception,
    rejected_records: dict[str, int],
) -> Rejection:
    """Why the Recorder refused one row, in the export's terms."""
    column_of = mapping.kinds[candidate.kind].column_of
    if isinstance(refused, RuleViolation):
        return rule_rejection(candidate, refused, column_of, rejected_records)
    if isinstance(refused, EventIdReused):
        violation = RuleViolation("event_id", refused.message)
    elif isinstance(refused, StreamBusy):
        violation = RuleViolation("stream_id", "the record was too busy to take the row: run the import again")
    else:
        violation = RuleViolation("stream_id", str(refused))
    return rule_rejection(candidate, violation, column_of, rejected_records)


def _by_type(candidates: Sequence[Candidate]) -> dict[str, int]:
    return dict(sorted(Counter(type_name(c.incoming.event) for c in candidates).items()))


def _chunks(items: Sequence[_T]) -> list[list[_T]]:
    return [list(items[i : i + _CHUNK]) for i in range(0, len(items), _CHUNK)]
