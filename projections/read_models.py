"""The typed read models: one table a record kind of ``domain.reporting.facts``, kept by one projection.

Every row carries its record's fields, the event's ``position`` and ``tx`` (the
``global_position`` and ``tx_id`` that made it), ``occurred_at`` and, once an
``entry_voided`` names it, ``voided_at``, ``voided_position`` and ``voided_tx``,
so reads decide in SQL what counts at any ``as_of`` and report position.

The SQL lives in ``read_models/*.sql`` beside this module, named by
``-- name:`` lines. One batch costs one insert a record kind present (arrays
through ``unnest``), one void statement when the batch voids anything, one
look-up of earlier outreach when a follow-up's parent is not in the batch, and
the dashboard tallies' three statements (``read_models/dashboard.sql``: which
programmes are being counted (again), take out what the batch may change, put
it back after), and three more a programme being counted (its next participants).
Inserts do nothing on conflict and voids mark only unmarked rows, so applying
a batch twice changes nothing (arq delivers at least once; a crash may replay).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import operator
import re
import uuid
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final

import asyncpg
import msgspec

from domain.reporting import facts as f
from infra.db import Connection
from infra.event_store import RecordedEvent
from projections.queries import PLAN_EACH_CALL, include, read_fragment
from projections.runner import envelope_of

_log = logging.getLogger("peoplelinks.read_models")

NAME: Final = "read_models"
LIVE_PREFIX: Final = ""
"""The live tables are the unprefixed ``rm_*`` of the search path (a rebuild fills a schema of its own)."""

_RECORD_FIELDS: Final = frozenset(field.name for field in msgspec.structs.fields(f.Record))


class Kind(msgspec.Struct, frozen=True, kw_only=True):
    """One record kind and its table: ``fields`` are the record's own fields, in the order the SQL takes them."""

    record: type[f.Record]
    table: str
    fields: tuple[str, ...]

    @property
    def key(self) -> str:
        """The table's name without ``rm_``: the name of its queries (``insert_<key>``, ``select_<key>``)."""
        return self.table.removeprefix("rm_")


def _kind(record: type[f.Record], table: str) -> Kind:
    own = [field.name for field in msgspec.structs.fields(record) if field.name not in _RECORD_FIELDS]
    # participant_id first, as in the tables, whatever order the record declares it in.
    own.sort(key=lambda name: name != "participant_id")
    return Kind(record=record, table=table, fields=tuple(own))


KINDS: Final[tuple[Kind, ...]] = tuple(
    _kind(record, table)
    for record, table in (
        (f.Participant, "rm_participants"),
        (f.CounselorAssignment, "rm_counselor_assignments"),
        (f.Contact, "rm_contacts"),
        (f.ContactEmployer, "rm_contact_employers"),
        (f.RelationshipNoted, "rm_relationships_noted"),
        (f.Outreach, "rm_outreach"),
        (f.Response, "rm_responses"),
        (f.Meeting, "rm_meetings"),
        (f.Referral, "rm_referrals"),
        (f.Application, "rm_applications"),
        (f.Interview, "rm_interviews"),
        (f.ApplicationClosure, "rm_application_closures"),
        (f.Hire, "rm_hires"),
        (f.Verification, "rm_verifications"),
        (f.Promotion, "rm_promotions"),
        (f.JobEnd, "rm_job_ends"),
        (f.Exit, "rm_exits"),
    )
)
TABLES: Final[tuple[str, ...]] = tuple(kind.table for kind in KINDS)
_BY_RECORD: Final[dict[type[f.Record], Kind]] = {kind.record: kind for kind in KINDS}

_NAME_LINE: Final = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)
_TABLE_NAME: Final = re.compile(r"\brm_[a-z_]+\b")
_PREFIX: Final = re.compile(r"^(?:[a-z_][a-z0-9_]*\.?)?$")


@functools.cache
def _named_queries() -> dict[str, str]:
    """Every query of ``read_models/*.sql``, by the name on its ``-- name:`` line, with the fragments it includes
    (``_*.sql`` beside them, as ``projections.queries`` has them) put in."""
    units = include(read_fragment(NAME, "live_units"), {"live_people": read_fragment(NAME, "live_people")}, NAME)
    fragments = {"live_units": units}
    found: dict[str, str] = {}
    for entry in sorted((resources.files("projections") / NAME).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql") or entry.name.startswith("_"):
            continue
        parts = _NAME_LINE.split(entry.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in found:
                raise RuntimeError(f"two read-model queries are named {name}")
            found[name] = include(body.strip().removesuffix(";"), fragments, f"{NAME}/{entry.name}")
    return found


@functools.cache
def queries(prefix: str = LIVE_PREFIX) -> dict[str, str]:
    """The named queries over the tables named ``<prefix>rm_*`` (a schema such as ``"scratch."``, or ``""``)."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"not a table prefix: {prefix!r}")
    return {name: _TABLE_NAME.sub(lambda m: prefix + m.group(0), sql) for name, sql in _named_queries().items()}


Thread = tuple[int, uuid.UUID, dt.datetime]
"""An outreach's (attempt number, thread root, occurred_at)."""
ThreadKey = tuple[int, int, int]
"""(programme_id, participant_id, outreach_id) as integers (hashed in C, unlike UUIDs)."""


class _Rows:
    """One batch's records of one kind, with the programme and transaction of each."""

    __slots__ = ("facts", "programmes", "txs")

    def __init__(self) -> None:
        self.programmes: list[uuid.UUID] = []
        self.txs: list[int] = []
        self.facts: list[Any] = []


class _Plan:
    """What one batch writes, worked out without the database: the rows of each kind (their columns but the
    outreach's thread columns, which may need earlier rows), the change marks and the voids."""

    __slots__ = ("changed", "columns", "rows", "voids")

    def __init__(self, events: Sequence[RecordedEvent]) -> None:
        self.rows: dict[Kind, _Rows] = {}
        self.voids: dict[tuple[uuid.UUID, uuid.UUID], tuple[Any, int, int]] = {}
        self.changed: dict[tuple[uuid.UUID, uuid.UUID], tuple[int, int]] = {}
        for recorded in events:
            fact = f.fact_from_event(envelope_of(recorded))
            if fact is None:
                continue
            subject = _changed_subject(recorded.stream_id, fact)
            if subject is not None:
                key = (recorded.programme_id, subject)
                position, tx = self.changed.get(key, (0, 0))
                self.changed[key] = (max(position, recorded.global_position), max(tx, recorded.tx_id))
            if isinstance(fact, f.Void):
                # The first void of an event wins (as in the fold); one UPDATE must not see two.
                self.voids.setdefault(
                    (recorded.programme_id, fact.voided_event_id),
                    (fact.voided_at, fact.voided_position, recorded.tx_id),
                )
                continue
            kind = _BY_RECORD[type(fact)]
            rows = self.rows.get(kind)
            if rows is None:
                rows = self.rows[kind] = _Rows()
            rows.programmes.append(recorded.programme_id)
            rows.txs.append(recorded.tx_id)
            rows.facts.append(fact)
        # In the order of KINDS, whatever order the batch has them in: a response's tally needs its outreach
        # inserted first (insert.sql), when both are in the batch.
        self.rows = {kind: self.rows[kind] for kind in KINDS if kind in self.rows}
        # One tuple a record in C (attrgetter), turned into one sequence a column (zip).
        self.columns = {
            kind: list(zip(*map(_getters[kind], rows.facts), strict=True)) for kind, rows in self.rows.items()
        }


class ReadModelsProjection:
    """Keeps every ``rm_*`` table in step with the store, under one checkpoint."""

    name = NAME
    tables: tuple[str, ...] = (
        *TABLES,
        "rm_change_marks",
        "rm_outreach_tallies",
        "rm_dashboard_zones",
        "rm_dashboard_days",
        "rm_dashboard_replies",
    )

    def __init__(self) -> None:
        self._prepared: tuple[Sequence[RecordedEvent], _Plan] | None = None

    def prepare(self, events: Sequence[RecordedEvent]) -> None:
        """Work out what ``events`` write ahead of their ``apply``.

        The runner calls it on the batch it read ahead, while the current batch's
        statements run in PostgreSQL, so that decoding the events and building the
        columns (about half of a catch-up's Python) overlaps them. Only the last batch
        prepared is kept, and ``apply`` uses it only for that very list of event
        objects (a hold's retries apply a part of it: that part is worked out again).
        """
        self._prepared = (events, _Plan(events))

    def _plan(self, events: Sequence[RecordedEvent]) -> _Plan:
        prepared = self._prepared
        if prepared is not None:
            ahead, plan = prepared
            if len(ahead) == len(events) and all(a is b for a, b in zip(ahead, events, strict=True)):
                self._prepared = None
                return plan
        return _Plan(events)

    async def apply(self, conn: Connection, events: Sequence[RecordedEvent], table: str = LIVE_PREFIX) -> None:
        """Insert the records these events make, then mark the rows their voids name.

        ``table`` is the prefix of the tables written (see ``queries``).
        """
        named = queries(table)
        plan = self._plan(events)
        # Every statement of the batch planned for its own arrays: from its sixth execution on a connection,
        # PostgreSQL plans a prepared statement generically, and on tables not yet analysed (a rebuild's, a new
        # deployment's) the generic plans of the dashboard's joins took seconds a batch, growing with the tables.
        await conn.execute(PLAN_EACH_CALL)
        await _count_programmes_again(conn, named)
        touched = await _retract_dashboard_units(conn, named, plan)
        for kind, rows in plan.rows.items():
            fields = plan.columns[kind]
            columns: list[Sequence[Any]] = [rows.programmes, *fields[:-2]]
            if kind.record is f.Outreach:
                columns += await _threads(conn, named, rows)
            columns += [fields[-2], rows.txs, fields[-1]]
            await conn.execute(named[f"insert_{kind.key}"], *columns)
        if plan.changed:
            keys_changed = list(plan.changed)
            await conn.execute(
                named["mark_changes"],
                [programme_id for programme_id, _ in keys_changed],
                [subject for _, subject in keys_changed],
                [plan.changed[key][0] for key in keys_changed],
                [plan.changed[key][1] for key in keys_changed],
            )
        if plan.voids:
            keys = list(plan.voids)
            marks = list(plan.voids.values())
            await conn.execute(
                named["mark_voids"],
                [programme_id for programme_id, _ in keys],
                [event_id for _, event_id in keys],
                [at for at, _, _ in marks],
                [position for _, position, _ in marks],
                [tx for _, _, tx in marks],
            )
        await conn.execute(named["dashboard_add"], *touched, [], [])

    async def idle(self, conn: Connection, table: str = LIVE_PREFIX) -> None:
        """With nothing to apply: count the next participants of any programme being counted (again), its
        statements planned as the batch's are (``apply``)."""
        await conn.execute(PLAN_EACH_CALL)
        await _count_programmes_again(conn, queries(table))


async def _count_programmes_again(conn: Connection, named: dict[str, str]) -> None:
    """Count the next participants of every programme whose dashboard units are being counted (again): one whose
    zone changed, or that has none counted yet (a new programme, or every programme after migration 0024), is
    forgotten and started afresh. Runs before a batch takes out or puts back any unit (``apply``), and when there
    is nothing to apply (``idle``)."""
    rows = await conn.fetch(named["dashboard_stale"])
    if not rows:
        return
    stale = [row for row in rows if row["stale"]]
    if stale:
        await conn.execute(
            named["dashboard_forget"],
            [row["programme_id"] for row in stale],
            [row["time_zone"] for row in stale],
            NOBODY,
        )
    for row in rows:
        programme_id = row["programme_id"]
        after = NOBODY if row["stale"] else row["counted_through"]
        chunk = [
            r["subject_id"]
            for r in await conn.fetch(named["dashboard_participants"], programme_id, after, RECOUNT_CHUNK)
        ]
        # The mark first: dashboard_add counts the units of participants at or before it only.
        done = len(chunk) < RECOUNT_CHUNK
        await conn.execute(named["dashboard_counted_through"], programme_id, None if done else chunk[-1])
        if chunk:
            await conn.execute(named["dashboard_add"], [], [], [], [programme_id] * len(chunk), chunk)
        if done:
            _log.info("the dashboard tallies of programme %s are counted", programme_id)


async def _retract_dashboard_units(conn: Connection, named: dict[str, str], plan: _Plan) -> list[list[uuid.UUID]]:
    """Take the dashboard units this batch may change out of the tallies (migration 0024), before its rows are
    written; return those outreach (programme, participant, outreach columns) for ``dashboard_add`` after."""
    outreach: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = []
    people: list[tuple[uuid.UUID, uuid.UUID]] = []
    for kind, rows in plan.rows.items():
        if kind.record is f.Outreach or kind.record is f.Response:
            outreach += ((p, r.participant_id, r.outreach_id) for p, r in zip(rows.programmes, rows.facts, strict=True))
        elif kind.record is f.CounselorAssignment:
            people += ((p, r.participant_id) for p, r in zip(rows.programmes, rows.facts, strict=True))
    voids = list(plan.voids)
    returned = await conn.fetch(
        named["dashboard_retract"],
        *_columns(outreach, 3),
        *_columns(people, 2),
        *_columns(voids, 2),
    )
    return [[row[0] for row in returned], [row[1] for row in returned], [row[2] for row in returned]]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Tuples as ``width`` columns (lists), for unnest; empty columns for no rows."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


RECOUNT_CHUNK: Final = 250
"""Participants counted a batch (and an idle step) while a programme's dashboard tallies are counted (again):
about 1 s at 1M events (200 events a participant; 500 took 2 s, 21 s in all either way). All of a 1M programme
in one batch took 19.5 s while every projection waited; in one statement, it ran past the statement timeout."""

NOBODY: Final = uuid.UUID(int=0)
"""Before every participant's id (all zeros, which no participant has): a programme counted afresh is counted
through it, and its first chunk starts after it."""


def _changed_subject(stream_id: str, fact: f.FactRecord | f.Void) -> uuid.UUID | None:
    """Whose answers an event's record changes: its participant's, its contact's, or (a new contact) nobody's.

    A contact's employer change, or a void of one of its rows, marks the contact: the
    stored answers of the participants whose records name it no longer stand
    (``follow_up_answers``), and nobody else's. A ``contact_added`` changes no stored
    answer: whatever refers to the contact comes after it, and marks its own participant.
    The stream id is a stored one, checked when it was appended: its kind is read off, not
    validated again (which parsed its uuid twice an event, a tenth of a catch-up's Python).
    """
    kind, _, raw_id = stream_id.partition("-")
    if kind == "participant":
        return f.stream_uuid(raw_id)
    if kind == "contact" and type(fact) is not f.Contact:
        return f.stream_uuid(raw_id)
    return None


_DIRECTORY_KINDS: Final = tuple(kind for kind in KINDS if "participant_id" not in kind.fields)
"""The contact directory's kinds: contacts and their employer changes."""


def _contacts_of(record: f.FactRecord) -> tuple[uuid.UUID | None, ...]:
    """The contacts a participant's record names (outreach, meetings, relationships, referrals by and to, hires via)."""
    return (
        getattr(record, "contact_id", None),
        getattr(record, "to_contact_id", None),
        getattr(record, "via_contact_id", None),
    )


def contacts_named(facts: f.Facts) -> dict[uuid.UUID, set[uuid.UUID]]:
    """The contacts each participant's records name (voided or not): the entries of the directory that anything
    computed for that participant can read (``load_facts_of`` loads the directory by them)."""
    named: dict[uuid.UUID, set[uuid.UUID]] = {participant_id: set() for participant_id in facts.participants}
    for record in facts.by_event_id.values():
        participant_id = getattr(record, "participant_id", None)
        if participant_id is not None:
            named.setdefault(participant_id, set()).update(c for c in _contacts_of(record) if c is not None)
    return named


_getters: Final = {kind: operator.attrgetter("event_id", *kind.fields, "position", "occurred_at") for kind in KINDS}
"""Of each kind: a record's event_id, own fields, position and occurred_at, in the order of its insert."""


async def _threads(conn: Connection, named: dict[str, str], rows: _Rows) -> list[list[Any]]:
    """The attempt, thread_root and dated_before_parent columns of a batch's outreach (in batch order, so parents
    come first)."""
    outreaches: list[tuple[uuid.UUID, f.Outreach]] = list(zip(rows.programmes, rows.facts, strict=True))
    in_batch = {(p.int, o.participant_id.int, o.outreach_id.int) for p, o in outreaches}
    missing = {
        (p, o.participant_id, o.follow_up_of)
        for p, o in outreaches
        if o.follow_up_of is not None and (p.int, o.participant_id.int, o.follow_up_of.int) not in in_batch
    }
    known: dict[ThreadKey, Thread] = {}
    if missing:
        wanted = list(missing)
        for row in await conn.fetch(
            named["outreach_threads"],
            [p for p, _, _ in wanted],
            [participant for _, participant, _ in wanted],
            [outreach for _, _, outreach in wanted],
        ):
            key = (row["programme_id"].int, row["participant_id"].int, row["outreach_id"].int)
            known.setdefault(key, (row["attempt"], row["thread_root"], row["occurred_at"]))
    attempts, roots, early = [], [], []
    for p, outreach in outreaches:
        pkey, participant = p.int, outreach.participant_id.int
        parent = None if outreach.follow_up_of is None else known.get((pkey, participant, outreach.follow_up_of.int))
        # A parent that is nowhere (which the append rules forbid) starts a thread, as attempt_numbers has it.
        thread = (
            (1, outreach.outreach_id, outreach.occurred_at)
            if parent is None
            else (parent[0] + 1, parent[1], outreach.occurred_at)
        )
        known.setdefault((pkey, participant, outreach.outreach_id.int), thread)
        attempts.append(thread[0])
        roots.append(thread[1])
        early.append(parent is not None and outreach.occurred_at < parent[2])
    return [attempts, roots, early]


def _record_of(kind: Kind, row: asyncpg.Record) -> f.FactRecord:
    record: f.FactRecord = kind.record(  # type: ignore[assignment]
        event_id=row["event_id"],
        position=row["position"],
        tx=row["tx"],
        occurred_at=row["occurred_at"],
        voided_at=row["voided_at"],
        voided_position=row["voided_position"],
        voided_tx=row["voided_tx"],
        **{name: row[name] for name in kind.fields},
    )
    return record


async def load_facts_of(
    conn: Connection | asyncpg.Pool,
    programme_id: uuid.UUID,
    participant_ids: Sequence[uuid.UUID] | None,
    table_prefix: str = LIVE_PREFIX,
) -> f.Facts:
    """The domain facts of some participants of a programme (every one with ``None``) and its contact directory.

    For some participants, the directory holds the contacts their records name (every
    look-up of it in ``domain.reporting`` is by such an id): a programme's whole
    directory grows with the programme, one participant's view does not. Records are
    added in store position order, so the facts equal ``facts_from_events`` over the
    same events appended one transaction after another.
    """
    named = queries(table_prefix)
    records: list[f.FactRecord] = []
    if participant_ids is None:
        for kind in KINDS:
            records += (_record_of(kind, row) for row in await conn.fetch(named[f"select_{kind.key}"], programme_id))
    else:
        chosen = list(participant_ids)
        for kind in KINDS:
            if "participant_id" in kind.fields:
                rows = await conn.fetch(named[f"select_{kind.key}_of"], programme_id, chosen)
                records += (_record_of(kind, row) for row in rows)
        # The directory of those records: the contacts they name, read by id.
        contact_ids = list({c for record in records for c in _contacts_of(record) if c is not None})
        for kind in _DIRECTORY_KINDS:
            rows = await conn.fetch(named[f"select_{kind.key}_of_contacts"], programme_id, contact_ids)
            records += (_record_of(kind, row) for row in rows)
    records.sort(key=lambda record: record.position)
    facts = f.Facts()
    for record in records:
        f.add_record(facts, record)
    return facts
