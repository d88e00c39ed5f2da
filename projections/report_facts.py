"""The report facts read model: one row a fact record, marked when voided.

Rows are written with ``ON CONFLICT DO NOTHING`` and voids are a plain
``UPDATE`` to the same values, so applying a batch twice changes nothing
(arq delivers at least once; a crash may replay a batch). Reports load a
programme's rows and compute with the pure functions of ``domain.reporting``.
"""

from __future__ import annotations

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
    )
}
_DECODERS: Final = {name: msgspec.json.Decoder(cls) for name, cls in _KINDS.items()}
_ENCODER: Final = msgspec.json.Encoder()


class ReportFactsProjection:
    """Keeps ``report_facts`` in step with the store."""

    name = NAME

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
            await conn.execute(
                f"""INSERT INTO {table} (programme_id, event_id, participant_id, kind, position, record)
                    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::jsonb[])
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
                f"""UPDATE {table} SET voided_at = $3, voided_position = $4
                    WHERE programme_id = $1 AND event_id = $2""",
                voids,
            )


async def load_facts(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, table: str = TABLE) -> f.Facts:
    """Every fact of one programme, as the pure report functions take them."""
    rows = await conn.fetch(
        f"""SELECT kind, record::text AS record, voided_at, voided_position FROM {table}
            WHERE programme_id = $1 ORDER BY position""",
        programme_id,
    )
    facts = f.Facts()
    for row in rows:
        record = _DECODERS[row["kind"]].decode(row["record"])
        record.voided_at = row["voided_at"]
        record.voided_position = row["voided_position"]
        f.add_record(facts, record)  # type: ignore[arg-type]
    return facts
