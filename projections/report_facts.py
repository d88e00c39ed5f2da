"""The report facts read model: one row a fact record, marked when voided.

Rows are written with ``ON CONFLICT DO NOTHING`` and voids are a plain
``UPDATE`` to the same values, so applying a batch twice changes nothing
(arq delivers at least once; a crash may replay a batch). Reports load a
programme's rows and compute with the pure functions of ``domain.reporting``.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Sequence
from typing import Final

import asyncpg
import msgspec

from domain.reporting import facts as f
from infra.db import Connection
from infra.event_store import RecordedEvent
from projections.runner import envelope_of

NAME: Final = "report_facts"
TABLE: Final = "report_facts"

_KINDS: Final[dict[str, type[f.Record]]] = {
    cls.__name__: cls
    for cls in (
        f.Participant,
        f.CounselorAssignment,
        f.Contact,
        f.Outreach,
        f.Response,
        f.Meeting,
        f.Referral,
        f.Application,
        f.Interview,
        f.ApplicationClosure,
        f.Hire,
        f.Verification,
        f.Promotion,
        f.JobEnd,
        f.Exit,
        f.RelationshipNoted,
        f.ContactEmployer,
    )
}
_DECODERS: Final = {name: msgspec.json.Decoder(cls) for name, cls in _KINDS.items()}
_ENCODER: Final = msgspec.json.Encoder()


class ReportFactsProjection:
    """Keeps ``report_facts`` in step with the store."""

    name = NAME
    tables: tuple[str, ...] = (TABLE,)

    async def apply(self, conn: Connection, events: Sequence[RecordedEvent], table: str = TABLE) -> None:
        """Insert the records these events make, then mark the ones their voids name."""
        programmes, event_ids, participants, kinds, positions, records = [], [], [], [], [], []
        voids: list[tuple[uuid.UUID, uuid.UUID, object, int]] = []
        for recorded in events:
            fact = f.fact_from_event(envelope_of(recorded))
            if fact is None:
                continue
            if isinstance(fact, f.Void):
                voids.append((recorded.programme_id, fact.voided_event_id, fact.voided_at, fact.voided_position))
                continue
            programmes.append(recorded.programme_id)
            event_ids.append(fact.event_id)
            participants.append(getattr(fact, "participant_id", None))
            kinds.append(type(fact).__name__)
            positions.append(fact.position)
            records.append(_ENCODER.encode(fact).decode())
        if event_ids:
            # The records go as text[] and are cast row by row: a jsonb[] parameter would travel as one
            # array literal (the pool's jsonb codec is text), escaped by the client and parsed by the server.
            await conn.execute(
                f"""INSERT INTO {table} (programme_id, event_id, participant_id, kind, position, record)
                    SELECT p, e, pa, k, po, r::jsonb
                    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[])
                        AS x(p, e, pa, k, po, r)
                    ON CONFLICT DO NOTHING""",
                programmes,
                event_ids,
                participants,
                kinds,
                positions,
                records,
            )
        if voids:
            # An event is voided once (the append rules see to it), so this is idempotent.
            await conn.executemany(
                f"""UPDATE {table} SET voided_at = $3, voided_position = $4, changed = nextval('report_facts_changes')
                    WHERE programme_id = $1 AND event_id = $2 AND voided_at IS NULL""",
                voids,
            )


_SELECT = (
    "SELECT kind, record::text AS record, voided_at, voided_position, changed FROM {table} WHERE programme_id = $1"
)


def _merge(facts: f.Facts, rows: list[asyncpg.Record]) -> int:
    """Add new rows and carry voids onto records already held; the highest ``changed`` seen."""
    highest = 0
    for row in rows:
        highest = max(highest, row["changed"])
        decoded = _DECODERS[row["kind"]].decode(row["record"])
        held = facts.by_event_id.get(decoded.event_id)
        if held is not None:
            if row["voided_at"] is None:
                continue
            f.mark_void(
                facts,
                f.Void(
                    voided_event_id=decoded.event_id, voided_at=row["voided_at"], voided_position=row["voided_position"]
                ),
            )
            continue
        decoded.voided_at = row["voided_at"]
        decoded.voided_position = row["voided_position"]
        f.add_record(facts, decoded)  # type: ignore[arg-type]
    return highest


async def load_facts(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, table: str = TABLE) -> f.Facts:
    """Every fact of one programme, as the pure report functions take them."""
    facts = f.Facts()
    _merge(facts, await conn.fetch(_SELECT.format(table=table) + " ORDER BY position", programme_id))
    return facts


async def participant_ids(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, table: str = TABLE
) -> list[uuid.UUID]:
    """Every participant with a fact in one programme."""
    rows = await conn.fetch(
        f"SELECT DISTINCT participant_id FROM {table} WHERE programme_id = $1 AND participant_id IS NOT NULL",
        programme_id,
    )
    return sorted(row["participant_id"] for row in rows)


async def load_directory(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, table: str = TABLE) -> f.Facts:
    """The facts of one programme's contact directory alone (no participant)."""
    facts = f.Facts()
    _merge(
        facts,
        await conn.fetch(_SELECT.format(table=table) + " AND participant_id IS NULL ORDER BY position", programme_id),
    )
    return facts


async def load_participants(
    conn: Connection | asyncpg.Pool,
    programme_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    directory: f.Facts,
    table: str = TABLE,
) -> f.Facts:
    """The facts of some participants of one programme, beside the programme's directory.

    What a report of these participants alone needs, so a programme too big to
    hold at once can be read a few hundred participants at a time.
    """
    facts = f.Facts(contacts=directory.contacts, contact_employers=directory.contact_employers)
    _merge(
        facts,
        await conn.fetch(
            _SELECT.format(table=table) + " AND participant_id = ANY($2::uuid[]) ORDER BY position",
            programme_id,
            list(ids),
        ),
    )
    return facts


class FactsCache:
    """Each programme's facts held in memory, refreshed with only the rows written since.

    The ``changed`` numbers of report_facts become visible in order (see
    migration 0003), so reading ``changed > last`` never passes a row. A rebuild
    swaps in a new table: its oid changes, and the programme is loaded afresh.
    """

    def __init__(self) -> None:
        self._held: dict[uuid.UUID, tuple[int, int, f.Facts]] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    async def facts(self, pool: Connection | asyncpg.Pool, programme_id: uuid.UUID) -> f.Facts:
        """The programme's facts as of now (every row committed before the call)."""
        lock = self._locks.setdefault(programme_id, asyncio.Lock())
        async with lock:
            oid = int(await pool.fetchval("SELECT $1::regclass::oid::bigint", TABLE))
            held = self._held.get(programme_id)
            if held is None or held[0] != oid:
                facts = f.Facts()
                last = _merge(facts, await pool.fetch(_SELECT.format(table=TABLE) + " ORDER BY position", programme_id))
                for bundle in facts.participants.values():
                    bundle.outreach_index()  # built now rather than spread over the first reports
                # A programme's facts are millions of long-lived objects (UUIDs are tracked by the cycle
                # collector): left in the collected generations, every full collection would walk them all.
                # They hold no cycles, so reference counting still frees them when the programme is reloaded.
                gc.freeze()
            else:
                _, last, facts = held
                rows = await pool.fetch(
                    _SELECT.format(table=TABLE) + " AND changed > $2 ORDER BY changed", programme_id, last
                )
                last = max(last, _merge(facts, rows))
            self._held[programme_id] = (oid, last, facts)
            return facts
