"""Which counselor a participant is assigned to now: what a counselor's access is checked against."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from infra.db import Connection

# The latest counselor_assigned that happened (occurred_at) by now and is not
# voided (ties: the higher position), else the enrolment's counselor_id: the
# rule of reports.md, looking from now.
_ASSIGNED = """
SELECT DISTINCT ON (e.stream_id) e.stream_id, (e.data->>'counselor_id')::uuid AS counselor_id
FROM events e
WHERE e.programme_id = $1 AND e.stream_id = ANY($2::text[])
  AND e.type IN ('participant_enrolled', 'counselor_assigned')
  AND (e.type = 'participant_enrolled' OR e.occurred_at <= now())
  AND NOT EXISTS (
      SELECT 1 FROM events v
      WHERE v.programme_id = e.programme_id AND v.stream_id = e.stream_id AND v.type = 'entry_voided'
        AND v.data->>'voided_event_id' = e.event_id::text)
ORDER BY e.stream_id, (e.type = 'counselor_assigned') DESC, e.occurred_at DESC, e.global_position DESC
"""


async def assigned_counselors(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, participant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Participant id → the counselor assigned now, for those of ``participant_ids`` that exist."""
    rows = await conn.fetch(_ASSIGNED, programme_id, [f"participant-{p}" for p in participant_ids])
    return {uuid.UUID(row["stream_id"].split("-", 1)[1]): row["counselor_id"] for row in rows}
