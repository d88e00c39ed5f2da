"""Rebuilding a read model from position 0 beside the live one, then swapping it in.

The old table keeps serving while the new one fills. The swap happens in one
transaction that holds the projection's advisory lock (the live runner's
lock), applies what arrived during the build, renames the tables and moves the
checkpoint, so readers see either the old model or the new one, never a mix.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from infra.db import Connection
from infra.event_store import Cursor, EventStore, RecordedEvent
from projections.holds import apply_guarded, rebuild_name
from projections.runner import Projection, lock_key, new_table_suffix

ProgressCallback = Callable[[int, int], None]
"""Called with (events applied so far, events in the store when the rebuild started)."""


async def _apply_from(
    conn: Connection,
    store: EventStore,
    projection: Projection,
    table: str,
    cursor: Cursor,
    batch_size: int,
    progress: ProgressCallback | None,
    done: int,
    total: int,
) -> tuple[Cursor, int]:
    while True:
        batch: list[RecordedEvent] = await store.read_all(cursor, limit=batch_size, conn=conn)
        if not batch:
            return cursor, done
        await apply_guarded(conn, projection, batch, table, rebuild_name(projection.name))
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
        done += len(batch)
        if progress is not None:
            progress(done, max(total, done))


async def rebuild(
    owner: asyncpg.Connection,
    store: EventStore,
    projection: Projection,
    *,
    live_table: str,
    app_role: str,
    worker_role: str,
    batch_size: int = 5000,
    progress: ProgressCallback | None = None,
) -> tuple[int, float]:
    """Rebuild one projection into a fresh table and swap it in; returns (events applied, seconds)."""
    started = time.perf_counter()
    suffix = new_table_suffix()
    fresh, retired = f"{live_table}_new_{suffix}", f"{live_table}_old_{suffix}"
    total = int(await owner.fetchval("SELECT count(*) FROM events"))
    # Holds a rebuild meets are its own until the swap (an earlier rebuild's, stopped midway, are stale).
    await owner.execute("DELETE FROM projection_holds WHERE name = $1", rebuild_name(projection.name))
    await owner.execute(f'CREATE TABLE "{fresh}" (LIKE "{live_table}" INCLUDING ALL)')
    try:
        await owner.execute(f'GRANT SELECT, INSERT, UPDATE ON "{fresh}" TO "{app_role}", "{worker_role}"')
        # LIKE copies no row-level security: give the fresh table the same policies before it holds a row.
        await owner.execute("SELECT peoplelinks_secure_table($1::regclass, true)", fresh)
        # Fill in batches, each its own transaction, without the lock: the live model is untouched.
        cursor, done = Cursor(), 0
        while True:
            async with owner.transaction():
                before = done
                cursor, done = await _one_batch(owner, store, projection, fresh, cursor, batch_size, done)
            if progress is not None:
                progress(done, max(total, done))
            if done == before:
                break
        # Statistics before the swap: a fresh table has none, and the first plans over it would be guesses.
        await owner.execute(f'ANALYZE "{fresh}"')
        async with owner.transaction():
            await owner.execute("SELECT pg_advisory_xact_lock($1)", lock_key(projection.name))
            cursor, done = await _apply_from(owner, store, projection, fresh, cursor, batch_size, progress, done, total)
            await owner.execute(f'ALTER TABLE "{live_table}" RENAME TO "{retired}"')
            await owner.execute(f'ALTER TABLE "{fresh}" RENAME TO "{live_table}"')
            # The fresh table's holds replace the old one's: it met every event again.
            await owner.execute("DELETE FROM projection_holds WHERE name = $1", projection.name)
            await owner.execute(
                "UPDATE projection_holds SET name = $1 WHERE name = $2", projection.name, rebuild_name(projection.name)
            )
            await owner.execute(
                """INSERT INTO projection_checkpoints (name, tx_id, position, events, updated_at)
                   VALUES ($1, $2::text::xid8, $3, $4, now())
                   ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
                       events = EXCLUDED.events, updated_at = now()""",
                projection.name,
                str(cursor.tx_id),
                cursor.global_position,
                done,
            )
        await owner.execute(f'DROP TABLE "{retired}"')
    except BaseException:
        await owner.execute(f'DROP TABLE IF EXISTS "{fresh}"')
        raise
    return done, time.perf_counter() - started


async def _one_batch(
    conn: Connection, store: EventStore, projection: Projection, table: str, cursor: Cursor, batch_size: int, done: int
) -> tuple[Cursor, int]:
    batch = await store.read_all(cursor, limit=batch_size, conn=conn)
    if not batch:
        return cursor, done
    await apply_guarded(conn, projection, batch, table, rebuild_name(projection.name))
    return Cursor(batch[-1].tx_id, batch[-1].global_position), done + len(batch)
