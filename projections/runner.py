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
import uuid
from collections.abc import Sequence
from typing import Protocol

import asyncpg
import msgspec

from domain.privacy import masked
from domain.reporting.facts import EventEnvelope
from infra.db import Connection
from infra.event_store import Cursor, EventStore, RecordedEvent
from projections.checkpoints import BATCH_SIZE, Checkpoint, lock_key, read_checkpoint, save_checkpoint, try_lock
from projections.holds import apply_guarded

__all__ = [
    "Checkpoint",
    "HeldAt",
    "Projection",
    "ProjectionStatus",
    "advance_once",
    "catch_up",
    "envelope_of",
    "lock_key",
    "overall_lag",
    "projection_status",
    "read_checkpoint",
]


class Projection(Protocol):
    """A read model: a name, the table(s) it writes, and how a batch of events changes them."""

    name: str
    tables: tuple[str, ...]
    """Every live table it writes (a rebuild makes fresh ones of each and swaps them all in)."""

    async def apply(self, conn: Connection, events: Sequence[RecordedEvent], table: str) -> None:
        """Write the read-model rows for ``events`` into ``table`` (a table, or a prefix of tables; idempotently)."""

    def prepare(self, events: Sequence[RecordedEvent]) -> None:
        """Work out ahead, without the database, what ``apply`` will write for ``events`` (the runner calls it on the
        batch it reads ahead, while the current batch's statements run); doing nothing is correct."""

    async def idle(self, conn: Connection, table: str) -> None:
        """Upkeep that waits for no event (the runner calls it, in a transaction of its own under the projection's
        lock, when it finds nothing to apply); doing nothing is correct."""


def envelope_of(recorded: RecordedEvent) -> EventEnvelope:
    """The one decoding of a stored event that every projection reads (no read model keeps a personal field)."""
    return EventEnvelope(
        stream_id=recorded.stream_id,
        event_id=recorded.event_id,
        global_position=recorded.global_position,
        occurred_at=recorded.occurred_at,
        type=recorded.type,
        data=masked(recorded.type, recorded.data),
        tx=recorded.tx_id,
    )


async def advance_once(
    store: EventStore,
    projection: Projection,
    *,
    table: str,
    batch_size: int = BATCH_SIZE,
    checkpoint_name: str | None = None,
) -> int | None:
    """Apply the next batch to one projection; the number of events applied, or None if another process holds it."""
    applied, _ = await _advance(store, projection, table=table, batch_size=batch_size, name=checkpoint_name)
    return applied


class _ReadAhead:
    """The next batch, read on a connection of its own while the current one is applied."""

    # How long the read ahead waits for a free connection before leaving the read to the next batch's
    # transaction: it never holds one while waiting for another, so it cannot starve the pool.
    WAIT_FOR_CONNECTION = 0.5

    def __init__(self, store: EventStore, after: Cursor, limit: int, projection: Projection) -> None:
        self.after = after
        self.batch = asyncio.ensure_future(self._read(store, after, limit, projection))

    async def _read(self, store: EventStore, after: Cursor, limit: int, projection: Projection) -> list[RecordedEvent]:
        try:
            async with store.pool.acquire(timeout=self.WAIT_FOR_CONNECTION) as reader:
                batch = await store.read_all(after, limit=limit, conn=reader)
        except TimeoutError:
            return []
        # Decoded here, while the current batch's statements run in PostgreSQL (see ReadModelsProjection.prepare).
        projection.prepare(batch)
        return batch

    async def batch_after(self, cursor: Cursor) -> list[RecordedEvent]:
        """The batch read ahead if it starts at ``cursor`` (the checkpoint), else nothing."""
        if self.after != cursor:
            await self.discard()
            return []
        return await self.batch

    async def discard(self) -> None:
        """Stop the read, and wait for it: the reader's connection is free for the next."""
        self.batch.cancel()
        await asyncio.gather(self.batch, return_exceptions=True)


async def _advance(
    store: EventStore,
    projection: Projection,
    *,
    table: str,
    batch_size: int,
    name: str | None = None,
    ahead: _ReadAhead | None = None,
    read_ahead: bool = False,
) -> tuple[int | None, _ReadAhead | None]:
    """Apply the next batch (the one read ahead, when it still follows the checkpoint); with ``read_ahead``, start
    reading the batch after a full one before applying it, and hand that read back."""
    name = name or projection.name
    async with store.pool.acquire() as conn, conn.transaction():
        if not await try_lock(conn, projection.name):
            if ahead is not None:
                await ahead.discard()
            return None, None
        checkpoint = await read_checkpoint(conn, name)
        # Read ahead outside this transaction, so possibly under an older horizon: a prefix of what this read
        # would see (events only become readable above every one already readable), never a gap.
        batch = await ahead.batch_after(checkpoint.cursor) if ahead is not None else []
        if not batch:
            batch = await store.read_all(checkpoint.cursor, limit=batch_size, conn=conn)
        if not batch:
            return 0, None
        last = batch[-1]
        after = Cursor(last.tx_id, last.global_position)
        full = read_ahead and len(batch) == batch_size
        following = _ReadAhead(store, after, batch_size, projection) if full else None
        try:
            await apply_guarded(conn, projection, batch, table, name)
            await save_checkpoint(conn, name, after, len(batch))
        except BaseException:
            if following is not None:
                await following.discard()
            raise
        return len(batch), following


async def catch_up(
    store: EventStore, projection: Projection, *, table: str, batch_size: int = BATCH_SIZE, settle_seconds: float = 1.0
) -> int:
    """Advance one projection until nothing committed is left for it; events applied in all.

    Committed events can sit above the horizon for a moment while an older
    transaction (anywhere in the cluster: transaction ids are cluster-wide) is
    still open. Rather than leave them to the next sweep, wait for the horizon
    to pass them, for up to ``settle_seconds``.

    When the pool has a connection to spare, the next batch is read (and decoded)
    on it while the current one is applied, so that reading and writing overlap.
    """
    read_ahead = store.pool.get_max_size() > 1
    total = 0
    deadline = asyncio.get_running_loop().time() + settle_seconds
    ahead: _ReadAhead | None = None
    try:
        while True:
            applied, ahead = await _advance(
                store, projection, table=table, batch_size=batch_size, ahead=ahead, read_ahead=read_ahead
            )
            if applied is None:
                return total  # another process is advancing it
            total += applied
            if applied:
                continue
            if asyncio.get_running_loop().time() >= deadline or not await _committed_beyond(store, projection.name):
                await _idle(store, projection, table=table)
                return total
            await asyncio.sleep(0.005)
    finally:
        if ahead is not None:
            await ahead.discard()


async def _idle(store: EventStore, projection: Projection, *, table: str) -> None:
    """The projection's upkeep (``Projection.idle``), in a transaction of its own, unless another process holds it."""
    async with store.pool.acquire() as conn, conn.transaction():
        if await try_lock(conn, projection.name):
            await projection.idle(conn, table)


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


PENDING_COUNTED = 100_000
"""Pending events counted by a walk of the index (``projection_status``); past it, by a full aggregate."""


class HeldAt(msgspec.Struct, frozen=True, kw_only=True):
    """Why a projection stopped for a programme: the event it cannot apply (see projections/holds.py)."""

    event_id: uuid.UUID
    position: int
    error: str
    since: dt.datetime
    attempts: int


class ProjectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A projection's checkpoint as ``GET /v1/projections`` shows it."""

    name: str
    checkpoint: int
    lag: int
    events_applied: int
    updated_at: dt.datetime | None
    held: list[HeldAt] = []


async def overall_lag(
    pool: Connection | asyncpg.Pool, names: Sequence[str], *, cap: int = 1_000_000
) -> tuple[int, list[tuple[str, int]]]:
    """The store's head over every programme, and each projection's count of events beyond its checkpoint.

    For operators (readiness, metrics): answered by a function that sees every
    programme and tells counts only, so a connection acting for no programme may
    ask. A count stops at ``cap`` (it reads that many index entries at most).
    """
    rows = await pool.fetch(
        "SELECT name, head, lag FROM peoplelinks_projection_lag($1::text[], $2::bigint)", list(names), cap
    )
    head = int(rows[0]["head"]) if rows else 0
    return head, [(row["name"], int(row["lag"])) for row in rows]


async def projection_status(
    pool: Connection | asyncpg.Pool, names: Sequence[str]
) -> tuple[int, list[ProjectionStatus]]:
    """The store's head and, per projection, the position up to which every event is applied, and the lag.

    Readers follow (tx_id, position), so a projection may have applied some events
    above a position it has not reached yet. Its ``checkpoint`` is therefore the
    highest position P such that every stored event at or below P is applied:
    a client that appended up to P can wait for every checkpoint to reach P.
    A programme the projection is held for (projections/holds.py) has its events
    from the one that failed on not applied: the checkpoint stays below it, and
    they count in the lag.
    """
    head = int(await pool.fetchval("SELECT coalesce(max(global_position), 0) FROM events"))
    statuses = []
    for name in names:
        checkpoint = await read_checkpoint(pool, name)
        cursor = checkpoint.cursor
        # Walked along events_tx_order_idx (ORDER BY … LIMIT): as a bare aggregate, the generic plan that a
        # pooled connection's prepared statement turns to after five runs was a parallel scan, 80–140 ms at
        # 10M events on every report position, where the walk from the checkpoint takes microseconds. Past
        # PENDING_COUNTED pending events the walk is cut short and the lowest pending position may lie beyond
        # it (a later transaction id can hold a lower position), so only then are they all aggregated.
        row = await pool.fetchrow(
            """SELECT min(global_position) AS first_pending, count(*) AS pending FROM (
                   SELECT global_position FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)
                   ORDER BY events.tx_id, events.global_position LIMIT $3
               ) pending""",
            str(cursor.tx_id),
            cursor.global_position,
            PENDING_COUNTED,
        )
        if row is not None and row["pending"] >= PENDING_COUNTED:
            row = await pool.fetchrow(
                """SELECT min(global_position) AS first_pending, count(*) AS pending FROM events
                   WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)""",
                str(cursor.tx_id),
                cursor.global_position,
            )
        assert row is not None
        first_pending = row["first_pending"]
        done_up_to = head if first_pending is None else int(first_pending) - 1
        pending = int(row["pending"])
        # Costed as scans of the events whatever the holds table holds: run without JIT (the application's pools
        # turn it off), its compilation took ~200 ms a call at 10M events for a statement that returns no row.
        held = await pool.fetch(
            """SELECT h.event_id, h.position, h.error, h.first_seen, h.attempts,
                  (SELECT min(e.global_position) FROM events e WHERE e.programme_id = h.programme_id
                     AND (e.tx_id, e.global_position) > (h.tx_id, h.position - 1)
                     AND (e.tx_id, e.global_position) <= ($2::text::xid8, $3::bigint)) AS first_held,
                  (SELECT count(*) FROM events e WHERE e.programme_id = h.programme_id
                     AND (e.tx_id, e.global_position) > (h.tx_id, h.position - 1)
                     AND (e.tx_id, e.global_position) <= ($2::text::xid8, $3::bigint)) AS waiting
           FROM projection_holds h WHERE h.name = $1 ORDER BY h.position""",
            name,
            str(cursor.tx_id),
            cursor.global_position,
        )
        for hold in held:
            if hold["first_held"] is not None:
                done_up_to = min(done_up_to, int(hold["first_held"]) - 1)
            pending += int(hold["waiting"])
        statuses.append(
            ProjectionStatus(
                name=name,
                checkpoint=done_up_to,
                lag=pending,
                events_applied=checkpoint.events,
                updated_at=checkpoint.updated_at,
                held=[
                    HeldAt(
                        event_id=h["event_id"],
                        position=h["position"],
                        error=h["error"],
                        since=h["first_seen"],
                        attempts=h["attempts"],
                    )
                    for h in held
                ],
            )
        )
    return head, statuses
