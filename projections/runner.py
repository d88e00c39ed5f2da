"""Runs projections: reads the store in gap-free order and advances each checkpoint atomically.

A batch of events is applied and the checkpoint advanced in one transaction, so
a crash anywhere neither loses nor double-counts an event. One projection is
advanced by one process at a time: the transaction first takes the
projection's advisory lock (``pg_try_advisory_xact_lock``), and a rebuild takes
the same lock. Any number of workers may run; the losers simply skip.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from collections.abc import Sequence
from typing import Protocol

import asyncpg
import msgspec

from domain.privacy import masked
from domain.reporting.facts import EventEnvelope
from infra.db import Connection
from infra.event_store import Cursor, EventStore, RecordedEvent


class Projection(Protocol):
    """A read model: a name, the table(s) it writes, and how a batch of events changes them."""

    name: str
    tables: tuple[str, ...]
    """Every live table it writes (a rebuild makes fresh ones of each and swaps them all in)."""

    async def apply(self, conn: Connection, events: Sequence[RecordedEvent], table: str) -> None:
        """Write the read-model rows for ``events`` into ``table`` (a table, or a prefix of tables; idempotently)."""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where one projection stands."""

    name: str
    cursor: Cursor
    events: int
    updated_at: dt.datetime | None


def lock_key(name: str) -> int:
    """The advisory lock of one projection (shared by the live runner and a rebuild)."""
    return zlib.crc32(f"peoplelinks:projection:{name}".encode()) - 2**31


def envelope_of(recorded: RecordedEvent) -> EventEnvelope:
    """The one decoding of a stored event that every projection reads (no read model keeps a personal field)."""
    return EventEnvelope(
        stream_id=recorded.stream_id,
        event_id=recorded.event_id,
        global_position=recorded.global_position,
        occurred_at=recorded.occurred_at,
        type=recorded.type,
        data=masked(recorded.type, recorded.data),
    )


async def read_checkpoint(conn: Connection | asyncpg.Pool, name: str) -> Checkpoint:
    """A projection's checkpoint (the start of the store when it has none yet)."""
    row = await conn.fetchrow(
        "SELECT tx_id::text::bigint AS tx_id, position, events, updated_at FROM projection_checkpoints WHERE name = $1",
        name,
    )
    if row is None:
        return Checkpoint(name=name, cursor=Cursor(), events=0, updated_at=None)
    return Checkpoint(
        name=name, cursor=Cursor(row["tx_id"], row["position"]), events=row["events"], updated_at=row["updated_at"]
    )


async def _save_checkpoint(conn: Connection, name: str, cursor: Cursor, applied: int) -> None:
    await conn.execute(
        """INSERT INTO projection_checkpoints (name, tx_id, position, events, updated_at)
           VALUES ($1, $2::text::xid8, $3, $4, now())
           ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
               events = projection_checkpoints.events + EXCLUDED.events, updated_at = now()""",
        name,
        str(cursor.tx_id),
        cursor.global_position,
        applied,
    )


async def advance_once(
    store: EventStore, projection: Projection, *, table: str, batch_size: int = 2000, checkpoint_name: str | None = None
) -> int | None:
    """Apply the next batch to one projection; the number of events applied, or None if another process holds it."""
    name = checkpoint_name or projection.name
    async with store.pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_key(projection.name)):
            return None
        checkpoint = await read_checkpoint(conn, name)
        batch = await store.read_all(checkpoint.cursor, limit=batch_size, conn=conn)
        if not batch:
            return 0
        await projection.apply(conn, batch, table)
        last = batch[-1]
        await _save_checkpoint(conn, name, Cursor(last.tx_id, last.global_position), len(batch))
        return len(batch)


async def catch_up(
    store: EventStore, projection: Projection, *, table: str, batch_size: int = 2000, settle_seconds: float = 1.0
) -> int:
    """Advance one projection until nothing committed is left for it; events applied in all.

    Committed events can sit above the horizon for a moment while an older
    transaction (anywhere in the cluster: transaction ids are cluster-wide) is
    still open. Rather than leave them to the next sweep, wait for the horizon
    to pass them, for up to ``settle_seconds``.
    """
    total = 0
    deadline = asyncio.get_running_loop().time() + settle_seconds
    while True:
        applied = await advance_once(store, projection, table=table, batch_size=batch_size)
        if applied is None:
            return total  # another process is advancing it
        total += applied
        if applied:
            continue
        if asyncio.get_running_loop().time() >= deadline or not await _committed_beyond(store, projection.name):
            return total
        await asyncio.sleep(0.005)


async def _committed_beyond(store: EventStore, name: str) -> bool:
    cursor = (await read_checkpoint(store.pool, name)).cursor
    # Ordered like events_tx_order_idx, so that every plan probes the index. A bare EXISTS gets, once the
    # prepared statement turns generic, a sequential scan from the table's start: the rows it looks for
    # are at the end, so it read the whole table on every call of the settle loop.
    found = await store.pool.fetchval(
        """SELECT 1 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)
           ORDER BY tx_id, global_position LIMIT 1""",
        str(cursor.tx_id),
        cursor.global_position,
    )
    return found is not None


class ProjectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A projection's checkpoint as ``GET /v1/projections`` shows it."""

    name: str
    checkpoint: int
    lag: int
    events_applied: int
    updated_at: dt.datetime | None


async def projection_status(
    pool: Connection | asyncpg.Pool, names: Sequence[str]
) -> tuple[int, list[ProjectionStatus]]:
    """The store's head and, per projection, the position up to which every event is applied, and the lag.

    Readers follow (tx_id, position), so a projection may have applied some events
    above a position it has not reached yet. Its ``checkpoint`` is therefore the
    highest position P such that every stored event at or below P is applied:
    a client that appended up to P can wait for every checkpoint to reach P.
    """
    head = int(await pool.fetchval("SELECT coalesce(max(global_position), 0) FROM events"))
    statuses = []
    for name in names:
        checkpoint = await read_checkpoint(pool, name)
        cursor = checkpoint.cursor
        row = await pool.fetchrow(
            """SELECT min(global_position) AS first_pending, count(*) AS pending FROM events
               WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)""",
            str(cursor.tx_id),
            cursor.global_position,
        )
        assert row is not None
        first_pending = row["first_pending"]
        done_up_to = head if first_pending is None else int(first_pending) - 1
        statuses.append(
            ProjectionStatus(
                name=name,
                checkpoint=done_up_to,
                lag=int(row["pending"]),
                events_applied=checkpoint.events,
                updated_at=checkpoint.updated_at,
            )
        )
    return head, statuses
