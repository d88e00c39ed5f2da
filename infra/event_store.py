"""The PostgreSQL event store: append with optimistic concurrency, idempotent ids, gap-free reading.

Ordering. ``global_position`` comes from a sequence, so positions are drawn in
one order and become visible in another (commit order): a reader that simply
follows ``global_position`` can pass over an event whose transaction commits
after a later position's. Readers therefore follow ``(tx_id, global_position)``
and read only rows written by transactions older than the oldest transaction
still in flight (``pg_snapshot_xmin``). Every row below that horizon is final:
no transaction can still add one there, so a cursor never skips an event.
Within a stream this order is the version order, because an append to a
stream starts after the previous append to it committed and so gets a larger
transaction id. The price is that a transaction left open holds every reader
back; the application's connections carry statement and idle-in-transaction
timeouts, and ``status()`` shows the age of the oldest open transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from infra.db import Connection


class EventStoreError(Exception):
    """Base of the store's own errors."""


class ConcurrencyConflict(EventStoreError):
    """A stream is not at the version the append expected."""

    def __init__(self, stream_id: str, expected: int, actual: int | None = None) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        where = "" if actual is None else f", it is at version {actual}"
        super().__init__(f"stream {stream_id} is not at version {expected}{where}")


class DuplicateEventId(EventStoreError):
    """An event id of the append is already stored (a retry, or a clash)."""


class Metadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who and what caused an event: stored with it, returned when it is read back."""

    programme_id: uuid.UUID
    actor_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event to append: its data already validated and canonically encoded."""

    event_id: uuid.UUID
    type: str
    data: bytes
    occurred_at: dt.datetime
    schema_version: int = 1


class StreamAppend(msgspec.Struct, frozen=True, kw_only=True):
    """Events for one stream, to be stored after ``expected_version``."""

    stream_id: str
    kind: str
    expected_version: int
    events: Sequence[NewEvent]
    # Set when these events void the stream's creation event: the record no
    # longer exists for references made after this append.
    removes_record: bool = False


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one stream's append stored."""

    stream_id: str
    stream_version: int
    global_position: int
    event_ids: list[uuid.UUID]


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as stored, with its envelope."""

    global_position: int
    programme_id: uuid.UUID
    stream_id: str
    stream_version: int
    event_id: uuid.UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    tx_id: int


class Cursor(msgspec.Struct, frozen=True):
    """Where a reader of the whole store stands: after this (transaction, position)."""

    tx_id: int = 0
    global_position: int = 0


class StoreStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Health of the store and of the horizon readers wait on."""

    head: int
    events: int
    oldest_transaction_age_seconds: float | None
    horizon_xid_age: int


_COLUMNS = (
    "global_position, programme_id, stream_id, stream_version, event_id, type, schema_version, "
    "data, metadata, occurred_at, recorded_at, tx_id::text::bigint AS tx_id"
)

# Column names and types the code relies on; a test compares them with the migrated schema.
EVENT_COLUMNS: dict[str, str] = {
    "global_position": "bigint",
    "programme_id": "uuid",
    "stream_id": "text",
    "stream_version": "integer",
    "event_id": "uuid",
    "type": "text",
    "schema_version": "smallint",
    "data": "jsonb",
    "metadata": "jsonb",
    "occurred_at": "timestamp with time zone",
    "recorded_at": "timestamp with time zone",
    "tx_id": "xid8",
}

_INSERT = """
INSERT INTO events (programme_id, stream_id, stream_version, event_id, type, schema_version, data, metadata,
                    occurred_at)
SELECT $1, s, v, e, t, sv, d::jsonb, m::jsonb, o
FROM unnest($2::text[], $3::int[], $4::uuid[], $5::text[], $6::smallint[], $7::text[], $8::text[],
            $9::timestamptz[]) WITH ORDINALITY AS x(s, v, e, t, sv, d, m, o, n)
ORDER BY n
RETURNING global_position, event_id
"""

# The same insert, with the stream rows it creates (a second append expecting
# version 0 then fails on the events' unique key, as a conflict) and the
# records it removes. Modifying CTEs always run to completion, in one snapshot.
_INSERT_WITH_STREAMS = f"""
WITH created AS (
    INSERT INTO streams (programme_id, stream_id, kind, removed)
    SELECT $1, s, k, r FROM unnest($10::text[], $11::text[], $12::bool[]) AS n(s, k, r)
    ON CONFLICT DO NOTHING
    RETURNING 1
), removed AS (
    UPDATE streams SET removed = true WHERE programme_id = $1 AND stream_id = ANY($13::text[])
    RETURNING 1
)
{_INSERT.strip()}
"""

_READ_ALL = f"""
SELECT {_COLUMNS} FROM events
WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
-- Qualified names: a bare tx_id here would be the bigint alias of the select list and
-- PostgreSQL would sort the whole table instead of walking the (tx_id, global_position) index.
ORDER BY events.tx_id, events.global_position
LIMIT $3
"""

# One programme's events between two cursors of the gap-free order (a held programme catching up: see
# projections/holds.py). The upper cursor is a checkpoint, so everything at or below it is below the horizon.
_READ_PROGRAMME = f"""
SELECT {_COLUMNS} FROM events
WHERE programme_id = $1
  AND (tx_id, global_position) > ($2::text::xid8, $3::bigint)
  AND (tx_id, global_position) <= ($4::text::xid8, $5::bigint)
ORDER BY events.tx_id, events.global_position
LIMIT $6
"""


def _record(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(**dict(row.items()))


_META_ENCODER = msgspec.json.Encoder()


class EventStore:
    """Append to and read from the ``events`` table through an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool the store reads and writes through."""
        return self._pool

    async def append(
        self, conn: Connection, programme_id: uuid.UUID, appends: Sequence[StreamAppend], metadata: Metadata
    ) -> list[AppendResult]:
        """Store every event of ``appends``, or none, in one statement.

        One statement is atomic on its own, so no transaction is needed (the
        caller may still be in one, to write more with it). Nothing is published
        from inside it (a NOTIFY would serialise every commit). Raises
        ``ConcurrencyConflict`` when a stream moved on (the unique key on
        (programme, stream, version) judges), ``DuplicateEventId`` when an event
        id is already stored for this programme.
        """
        streams, versions, ids, types, schema_versions, datas, metas, occurred = [], [], [], [], [], [], [], []
        new_streams: list[str] = []
        new_kinds: list[str] = []
        new_removed: list[bool] = []
        removed: list[str] = []
        meta_json = _META_ENCODER.encode(metadata).decode()
        for append in appends:
            if append.expected_version == 0:
                # A stream created and voided in one request is written removed at once.
                new_streams.append(append.stream_id)
                new_kinds.append(append.kind)
                new_removed.append(append.removes_record)
            elif append.removes_record:
                removed.append(append.stream_id)
            for offset, event in enumerate(append.events, start=1):
                streams.append(append.stream_id)
                versions.append(append.expected_version + offset)
                ids.append(event.event_id)
                types.append(event.type)
                schema_versions.append(event.schema_version)
                datas.append(event.data.decode())
                metas.append(meta_json)
                occurred.append(event.occurred_at)
        try:
            if new_streams or removed:
                rows = await conn.fetch(
                    _INSERT_WITH_STREAMS,
                    programme_id,
                    streams,
                    versions,
                    ids,
                    types,
                    schema_versions,
                    datas,
                    metas,
                    occurred,
                    new_streams,
                    new_kinds,
                    new_removed,
                    removed,
                )
            else:
                rows = await conn.fetch(
                    _INSERT, programme_id, streams, versions, ids, types, schema_versions, datas, metas, occurred
                )
        except asyncpg.UniqueViolationError as e:
            if e.constraint_name == "events_event_id_key":
                raise DuplicateEventId(str(e)) from e
            stream = next((a.stream_id for a in appends if a.stream_id in (e.detail or "")), appends[0].stream_id)
            expected = next((a.expected_version for a in appends if a.stream_id == stream), 0)
            raise ConcurrencyConflict(stream, expected) from e
        except asyncpg.DeadlockDetectedError as e:
            # Two batches touching the same streams in opposite orders: one loses, as a conflict.
            raise ConcurrencyConflict(appends[0].stream_id, appends[0].expected_version) from e
        position_of = {r["event_id"]: r["global_position"] for r in rows}
        results = []
        for append in appends:
            event_ids = [event.event_id for event in append.events]
            results.append(
                AppendResult(
                    stream_id=append.stream_id,
                    stream_version=append.expected_version + len(append.events),
                    global_position=max(position_of[i] for i in event_ids),
                    event_ids=event_ids,
                )
            )
        return results

    async def read_streams(
        self, conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, stream_ids: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        """Every event of each named stream of one programme, in version order."""
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM events WHERE programme_id = $1 AND stream_id = ANY($2::text[])
                ORDER BY stream_id, stream_version""",
            programme_id,
            list(stream_ids),
        )
        found: dict[str, list[RecordedEvent]] = {s: [] for s in stream_ids}
        for row in rows:
            found[row["stream_id"]].append(_record(row))
        return found

    async def read_streams_of_types(
        self,
        conn: Connection | asyncpg.Pool,
        programme_id: uuid.UUID,
        stream_ids: Sequence[str],
        types: Sequence[str],
    ) -> list[RecordedEvent]:
        """The events of the named streams whose type is one of ``types``, in stream and version order."""
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM events
                WHERE programme_id = $1 AND stream_id = ANY($2::text[]) AND type = ANY($3::text[])
                ORDER BY stream_id, stream_version""",
            programme_id,
            list(stream_ids),
            list(types),
        )
        return [_record(row) for row in rows]

    async def read_stream_after(
        self, conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, stream_id: str, after_version: int
    ) -> list[RecordedEvent]:
        """The events of one stream after ``after_version``, in version order."""
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM events WHERE programme_id = $1 AND stream_id = $2 AND stream_version > $3
                ORDER BY stream_version""",
            programme_id,
            stream_id,
            after_version,
        )
        return [_record(row) for row in rows]

    async def find_events(
        self, conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, event_ids: Sequence[uuid.UUID]
    ) -> list[RecordedEvent]:
        """The stored events of one programme among ``event_ids``."""
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM events WHERE programme_id = $1 AND event_id = ANY($2::uuid[])",
            programme_id,
            list(event_ids),
        )
        return [_record(row) for row in rows]

    async def existing_records(
        self, conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, stream_ids: Sequence[str]
    ) -> set[str]:
        """Which of ``stream_ids`` exist in the programme with their record not removed."""
        if not stream_ids:
            return set()
        rows = await conn.fetch(
            """SELECT stream_id FROM streams
               WHERE programme_id = $1 AND stream_id = ANY($2::text[]) AND NOT removed""",
            programme_id,
            list(stream_ids),
        )
        return {row["stream_id"] for row in rows}

    async def records_of_kind(self, conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, kind: str) -> list[str]:
        """The stream ids of every record of one kind (participant, contact, employer) not removed."""
        rows = await conn.fetch(
            "SELECT stream_id FROM streams WHERE programme_id = $1 AND kind = $2 AND NOT removed ORDER BY stream_id",
            programme_id,
            kind,
        )
        return [row["stream_id"] for row in rows]

    async def read_all(self, after: Cursor, limit: int = 1000, conn: Connection | None = None) -> list[RecordedEvent]:
        """The next events of the whole store in gap-free order (see the module docstring)."""
        target: Connection | asyncpg.Pool = conn if conn is not None else self._pool
        rows = await target.fetch(_READ_ALL, str(after.tx_id), after.global_position, limit)
        return [_record(row) for row in rows]

    async def read_programme(
        self,
        programme_id: uuid.UUID,
        *,
        after: Cursor,
        up_to: Cursor,
        limit: int = 1000,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """One programme's events after ``after`` and at or before ``up_to``, in gap-free order."""
        target: Connection | asyncpg.Pool = conn if conn is not None else self._pool
        rows = await target.fetch(
            _READ_PROGRAMME,
            programme_id,
            str(after.tx_id),
            after.global_position,
            str(up_to.tx_id),
            up_to.global_position,
            limit,
        )
        return [_record(row) for row in rows]

    async def head(self) -> int:
        """The highest global position stored (0 for an empty store)."""
        value = await self._pool.fetchval("SELECT coalesce(max(global_position), 0) FROM events")
        return int(value)

    async def status(self, conn: Connection | None = None) -> StoreStatus:
        """Head and size (of what ``conn`` may see), and the age of the oldest open transaction."""
        target: Connection | asyncpg.Pool = conn if conn is not None else self._pool
        row = await target.fetchrow(
            """SELECT (SELECT coalesce(max(global_position), 0) FROM events) AS head,
                      (SELECT count(*) FROM events) AS events,
                      (SELECT extract(epoch FROM now() - min(xact_start))::float8 FROM pg_stat_activity
                        WHERE datname = current_database() AND backend_xid IS NOT NULL) AS oldest,
                      pg_snapshot_xmax(pg_current_snapshot())::text::bigint
                        - pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon"""
        )
        assert row is not None
        return StoreStatus(
            head=int(row["head"]),
            events=int(row["events"]),
            oldest_transaction_age_seconds=row["oldest"],
            horizon_xid_age=int(row["horizon"]),
        )
