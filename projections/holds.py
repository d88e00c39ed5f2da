"""Holds: an event a projection cannot apply stops that projection for its programme only, loudly.

The store is append-only, so an event that a projection fails on (a bug, or a
value the rules let through before they were tightened) cannot be removed. If
the runner simply retried, one such event would stop the read models of every
programme for good. Instead:

- a batch that fails is applied again one event at a time (each in a
  savepoint) to find the event that fails; its programme is *held*: a row in
  ``projection_holds`` says which event, at which position, and why;
- the live runner passes over a held programme's events (the other programmes
  go on) and reports the held programme's checkpoint as just below the event,
  so its reports stay where they were and ``/v1/projections`` shows the hold;
- ``release_holds`` applies the held programme's events again, in order, from
  the event that failed up to the live checkpoint, and drops the hold when it
  gets there. The worker tries every ``RETRY_SECONDS`` and at start, so a fixed
  worker catches up by itself; an operator who decides that an event must stay
  out of the read models records it in ``projection_skips``
  (``peoplelinks projections skip``), and the next release passes over it.

Errors that say nothing about the event (the database going away, a timeout, a
deadlock) are not holds: they propagate and the batch is tried again as before.
Each hold is logged once when it is made and once when its cause changes, never
on every retry; the log names the projection, the position, the event id and
the error's type (messages can quote event data; they stay in the table, which
row-level security keeps to the programme).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import asyncpg
import msgspec

from infra.db import Connection
from infra.event_store import Cursor, EventStore, RecordedEvent
from projections.checkpoints import BATCH_SIZE, read_checkpoint, try_lock

if TYPE_CHECKING:
    from projections.runner import Projection

RETRY_SECONDS: Final = 30.0
"""How often the worker tries to apply a held programme's events again."""

TRANSIENT: Final[tuple[type[BaseException], ...]] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.QueryCanceledError,
    asyncpg.TransactionRollbackError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
)
"""Failures of the database or the connection, not of an event: retried, never held."""

_log = logging.getLogger("peoplelinks.projections")


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """A programme whose events one projection cannot apply past ``event_id``."""

    name: str
    programme_id: uuid.UUID
    event_id: uuid.UUID
    position: int
    error: str
    first_seen: dt.datetime
    last_tried: dt.datetime
    attempts: int


def rebuild_name(name: str) -> str:
    """The hold name of a rebuild in progress (its holds become the live ones at the swap)."""
    return f"{name}@rebuild"


def describe(error: BaseException) -> str:
    """What a hold keeps of an error: its type, then its message (cut short)."""
    message = str(error).strip().replace("\n", " ")
    return f"{type(error).__name__}: {message}"[:500]


async def holds(conn: Connection | asyncpg.Pool, name: str | None = None) -> list[Hold]:
    """The holds visible to ``conn`` (row-level security: one programme's, for the API), of one projection or all."""
    rows = await conn.fetch(
        """SELECT name, programme_id, event_id, position, error, first_seen, last_tried, attempts
           FROM projection_holds WHERE $1::text IS NULL OR name = $1 ORDER BY name, position""",
        name,
    )
    return [Hold(**dict(row.items())) for row in rows]


async def apply_guarded(
    conn: Connection, projection: Projection, events: Sequence[RecordedEvent], table: str, name: str
) -> None:
    """Apply ``events`` except those of held programmes and skipped events; hold the programme of any that fails."""
    held = {
        row["programme_id"]
        for row in await conn.fetch("SELECT programme_id FROM projection_holds WHERE name = $1", name)
    }
    await _apply_or_hold(conn, projection, [e for e in events if e.programme_id not in held], table, name)


async def _apply_or_hold(
    conn: Connection, projection: Projection, events: Sequence[RecordedEvent], table: str, name: str
) -> RecordedEvent | None:
    """Apply what is not skipped; on a failure, find and hold the failing events. The first one held, if any."""
    skipped = {
        row["event_id"]
        for row in await conn.fetch(
            "SELECT event_id FROM projection_skips WHERE event_id = ANY($1::uuid[])", [e.event_id for e in events]
        )
    }
    todo = [e for e in events if e.event_id not in skipped]
    if not todo:
        return None
    try:
        async with conn.transaction():
            await projection.apply(conn, todo, table)
        return None
    except TRANSIENT:
        raise
    except Exception:  # noqa: S110 - an event it cannot apply: found and held, one at a time, below
        pass
    first: RecordedEvent | None = None
    failed: set[uuid.UUID] = set()
    for event in todo:
        if event.programme_id in failed:
            continue  # a held programme's later events wait for the hold's release, in order
        try:
            async with conn.transaction():
                await projection.apply(conn, [event], table)
        except TRANSIENT:
            raise
        except Exception as error:
            failed.add(event.programme_id)
            first = first or event
            await _hold(conn, name, event, error)
    return first


async def _hold(conn: Connection, name: str, event: RecordedEvent, error: Exception) -> None:
    cause = describe(error)
    # The events after the hold's cursor are not applied: start just before this one. No event lies between
    # (tx, position - 1) and (tx, position) in the store's order.
    previous = await conn.fetchrow(
        "SELECT event_id, error FROM projection_holds WHERE name = $1 AND programme_id = $2", name, event.programme_id
    )
    await conn.execute(
        """INSERT INTO projection_holds (name, programme_id, event_id, tx_id, position, error)
           VALUES ($1, $2, $3, $4::text::xid8, $5, $6)
           ON CONFLICT (name, programme_id) DO UPDATE SET event_id = EXCLUDED.event_id, error = EXCLUDED.error,
               last_tried = now(), attempts = projection_holds.attempts + 1""",
        name,
        event.programme_id,
        event.event_id,
        str(event.tx_id),
        event.global_position,
        cause,
    )
    if previous is None or previous["event_id"] != event.event_id or previous["error"] != cause:
        _log.error(
            "projection %s cannot apply the event at position %d (%s): %s; its programme is held, the others go on"
            " (see docs/operations.md, A projection holds a programme)",
            name,
            event.global_position,
            event.event_id,
            type(error).__name__,
        )


async def release_holds(store: EventStore, projection: Projection, *, table: str, batch_size: int = BATCH_SIZE) -> int:
    """Apply held programmes' events again up to the live checkpoint; the number of holds released."""
    released = 0
    for hold in await holds(store.pool, projection.name):
        if await _release(store, projection, hold, table=table, batch_size=batch_size):
            released += 1
    return released


async def _release(store: EventStore, projection: Projection, hold: Hold, *, table: str, batch_size: int) -> bool:
    while True:
        async with store.pool.acquire() as conn, conn.transaction():
            # The live runner's lock: it cannot pass over this programme's events while the hold goes.
            if not await try_lock(conn, projection.name):
                return False
            row = await conn.fetchrow(
                """SELECT tx_id::text::bigint AS tx_id, position FROM projection_holds
                   WHERE name = $1 AND programme_id = $2 FOR UPDATE""",
                hold.name,
                hold.programme_id,
            )
            if row is None:
                return False
            checkpoint = (await read_checkpoint(conn, hold.name)).cursor
            batch = await store.read_programme(
                hold.programme_id,
                after=Cursor(row["tx_id"], row["position"] - 1),
                up_to=checkpoint,
                limit=batch_size,
                conn=conn,
            )
            if not batch:
                await conn.execute(
                    "DELETE FROM projection_holds WHERE name = $1 AND programme_id = $2", hold.name, hold.programme_id
                )
                _log.warning("projection %s: the held programme has caught up; hold released", hold.name)
                return True
            failed = await _apply_or_hold(conn, projection, batch, table, hold.name)
            if failed is not None:
                # Stuck again: what was applied before the failing event stays; the hold now starts there.
                await conn.execute(
                    """UPDATE projection_holds SET tx_id = $3::text::xid8, position = $4
                       WHERE name = $1 AND programme_id = $2""",
                    hold.name,
                    hold.programme_id,
                    str(failed.tx_id),
                    failed.global_position,
                )
                return False
            last = batch[-1]
            await conn.execute(
                """UPDATE projection_holds SET tx_id = $3::text::xid8, position = $4
                   WHERE name = $1 AND programme_id = $2""",
                hold.name,
                hold.programme_id,
                str(last.tx_id),
                last.global_position + 1,
            )


async def skip_event(
    conn: Connection, programme_id: uuid.UUID, event_id: uuid.UUID, *, reason: str, skipped_by: str
) -> bool:
    """Leave one stored event out of every read model from now on (the store keeps it); False if already skipped."""
    status = await conn.execute(
        """INSERT INTO projection_skips (programme_id, event_id, reason, skipped_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING""",
        programme_id,
        event_id,
        reason,
        skipped_by,
    )
    return bool(status.endswith(" 1"))
