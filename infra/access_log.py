"""The access log: who read which participant's record, when and how; append-only, ids only."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import msgspec

from infra.db import Connection


class AccessEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One read of one participant's record."""

    position: int
    at: dt.datetime
    user_id: uuid.UUID
    role: str
    participant_id: uuid.UUID
    action: str
    request_id: uuid.UUID


class AccessQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which entries of a programme's access log to read, newest first."""

    participant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_position: int | None = None
    limit: int = 100


async def record_access(
    conn: Connection | asyncpg.Pool,
    *,
    programme_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    participant_id: uuid.UUID,
    action: str,
    request_id: uuid.UUID,
) -> None:
    """Append one entry; the time is the database's."""
    await conn.execute(
        """INSERT INTO access_log (programme_id, user_id, role, participant_id, action, request_id)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        programme_id,
        user_id,
        role,
        participant_id,
        action,
        request_id,
    )


async def read_access_log(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, query: AccessQuery
) -> list[AccessEntry]:
    """The programme's entries matching ``query``, newest first; ``since`` inclusive, ``until`` exclusive."""
    rows = await conn.fetch(
        """SELECT position, at, user_id, role, participant_id, action, request_id
           FROM access_log
           WHERE programme_id = $1
             AND ($2::uuid IS NULL OR participant_id = $2)
             AND ($3::uuid IS NULL OR user_id = $3)
             AND ($4::timestamptz IS NULL OR at >= $4)
             AND ($5::timestamptz IS NULL OR at < $5)
             AND ($6::bigint IS NULL OR position < $6)
           ORDER BY position DESC
           LIMIT $7""",
        programme_id,
        query.participant_id,
        query.user_id,
        query.since,
        query.until,
        query.before_position,
        query.limit,
    )
    return [
        AccessEntry(
            position=row["position"],
            at=row["at"],
            user_id=row["user_id"],
            role=row["role"],
            participant_id=row["participant_id"],
            action=row["action"],
            request_id=row["request_id"],
        )
        for row in rows
    ]
