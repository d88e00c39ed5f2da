"""Rebuilding a read model from position 0 beside the live one, then swapping it in.

The fresh tables are made in a schema of the projection's own
(``rebuild_<name>``) with the same names, columns, indexes, grants and
row-level security as the live ones; the projection fills them with its usual
SQL, the schema first on the search path. The old tables keep serving while
the new ones fill. The swap is one transaction that holds the projection's
advisory lock (the live runner's lock), applies what arrived during the build,
moves every live table out and every fresh one in, moves the checkpoint and
drops the old tables: readers see either the old model or the new one, never
a mix, and a reader blocked by the swap reads the new tables once it commits.

A rebuild killed at any moment leaves at most its fresh schema behind; the
next rebuild of that projection drops it first, under a session advisory lock
that only one rebuild of a projection holds at a time (and that a killed
session releases), and starts again from position 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import asyncpg

from infra.db import Connection
from infra.event_store import Cursor, EventStore
from projections.checkpoints import BATCH_SIZE
from projections.holds import apply_guarded, rebuild_name
from projections.runner import Projection, lock_key

ProgressCallback = Callable[[int, int], None]
"""Called with (events applied so far, events in the store when the rebuild started)."""

LIVE_SCHEMA = "public"

FIRST_ANALYSED: Final = 20_000
"""Events applied when a rebuild first analyses its fresh tables; again each time that count doubles."""


class RebuildRunning(RuntimeError):
    """Another rebuild of the same projection is under way."""


def fresh_schema(name: str) -> str:
    """Where a rebuild of projection ``name`` fills its fresh tables."""
    return f"rebuild_{name}"


def _retired_schema(name: str) -> str:
    return f"rebuild_{name}_retired"


def rebuild_lock_key(name: str) -> int:
    """The session advisory lock one rebuild of projection ``name`` holds from start to end."""
    return lock_key(f"rebuild:{name}")


async def _use_fresh(conn: Connection, schema: str) -> None:
    # The projection's SQL names its tables without a schema: in this transaction they are the fresh ones.
    await conn.execute(f'SET LOCAL search_path TO "{schema}", {LIVE_SCHEMA}')


async def _create_fresh_tables(owner: asyncpg.Connection, projection: Projection, schema: str) -> None:
    await owner.execute(f'CREATE SCHEMA "{schema}"')
    grantees = {
        row["grantee"]
        for row in await owner.fetch(
            "SELECT DISTINCT grantee FROM information_schema.role_table_grants"
            " WHERE table_schema = $1 AND table_name = ANY($2::text[]) AND grantee <> current_user",
            LIVE_SCHEMA,
            list(projection.tables),
        )
    }
    for role in sorted(grantees):
        await owner.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    for table in projection.tables:
        await owner.execute(f'CREATE TABLE "{schema}"."{table}" (LIKE {LIVE_SCHEMA}."{table}" INCLUDING ALL)')
        # LIKE copies neither grants nor row-level security: give the fresh table the live one's before it
        # holds a row.
        for row in await owner.fetch(
            "SELECT grantee, string_agg(privilege_type, ', ') AS privileges FROM information_schema.role_table_grants"
            " WHERE table_schema = $1 AND table_name = $2 AND grantee <> current_user GROUP BY grantee",
            LIVE_SCHEMA,
            table,
        ):
            await owner.execute(f'GRANT {row["privileges"]} ON "{schema}"."{table}" TO "{row["grantee"]}"')
        await owner.execute("SELECT peoplelinks_secure_table($1::regclass, true)", f'"{schema}"."{table}"')
        # Nor storage parameters (the eager autoanalyze of migration 0021): carry them over as they are.
        options = await owner.fetchval(
            "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = $1::regclass",
            f'{LIVE_SCHEMA}."{table}"',
        )
        if options:
            await owner.execute(f'ALTER TABLE "{schema}"."{table}" SET ({options})')


async def rebuild(
    owner: asyncpg.Connection,
    store: EventStore,
    projection: Projection,
    *,
    live_table: str,
    batch_size: int = BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> tuple[int, float]:
    """Rebuild one projection into fresh tables and swap them in; returns (events applied, seconds).

    ``live_table`` is what the projection writes to (its table, or the prefix of its tables), as the live runner
    passes it; the fresh tables take the same names in the rebuild's schema.
    """
    started = time.perf_counter()
    fresh, retired = fresh_schema(projection.name), _retired_schema(projection.name)
    if not await owner.fetchval("SELECT pg_try_advisory_lock($1)", rebuild_lock_key(projection.name)):
        raise RebuildRunning(f"another rebuild of {projection.name} is under way")
    try:
        # Whatever a killed rebuild left behind (nobody else uses this schema while we hold the lock).
        await owner.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')
        total = int(await owner.fetchval("SELECT count(*) FROM events"))
        # Holds a rebuild meets are its own until the swap (an earlier rebuild's, stopped midway, are stale).
        await owner.execute("DELETE FROM projection_holds WHERE name = $1", rebuild_name(projection.name))
        await _create_fresh_tables(owner, projection, fresh)
        try:
            done = await _fill_and_swap(
                owner, store, projection, live_table, fresh, retired, batch_size, progress, total
            )
        except BaseException:
            await owner.execute(f'DROP SCHEMA IF EXISTS "{fresh}" CASCADE')
            raise
    finally:
        await owner.execute("SELECT pg_advisory_unlock($1)", rebuild_lock_key(projection.name))
    return done, time.perf_counter() - started


async def _fill_and_swap(
    owner: asyncpg.Connection,
    store: EventStore,
    projection: Projection,
    target: str,
    fresh: str,
    retired: str,
    batch_size: int,
    progress: ProgressCallback | None,
    total: int,
) -> int:
    # Fill in batches, each its own transaction, without the projection's lock: the live model is untouched.
    cursor, done = Cursor(), 0
    analysed = FIRST_ANALYSED // 2
    while True:
        async with owner.transaction():
            await _use_fresh(owner, fresh)
            cursor, applied = await _one_batch(owner, store, projection, target, cursor, batch_size)
        done += applied
        if progress is not None:
            progress(done, max(total, done))
        if not applied:
            break
        # Statistics as the fresh tables grow (each time the events applied double): without any, every batch's
        # statements were planned for empty tables, and a 1M rebuild in batches of 5,000 took 178 s, not 82.
        if done >= analysed * 2:
            analysed = done
            await owner.execute(f"ANALYZE {_tables_in(fresh, projection)}")
    # Statistics before the swap: a fresh table has none, and the first plans over it would be guesses. VACUUM
    # too: the dashboard's day tallies are updated by every batch (a 1M rebuild left 110,000 dead rows), and the
    # visibility map lets reads scan indexes alone; after a rebuild a year's dashboard took 200 ms, not 115.
    await owner.execute(f"VACUUM (ANALYZE) {_tables_in(fresh, projection)}")
    async with owner.transaction():
        await owner.execute("SELECT pg_advisory_xact_lock($1)", lock_key(projection.name))
        await _use_fresh(owner, fresh)
        while True:
            cursor, applied = await _one_batch(owner, store, projection, target, cursor, batch_size)
            if not applied:
                break
            done += applied
            if progress is not None:
                progress(done, max(total, done))
        await owner.execute(f'CREATE SCHEMA "{retired}"')
        for table in projection.tables:
            await owner.execute(f'ALTER TABLE {LIVE_SCHEMA}."{table}" SET SCHEMA "{retired}"')
            await owner.execute(f'ALTER TABLE "{fresh}"."{table}" SET SCHEMA {LIVE_SCHEMA}')
        # The fresh tables' holds replace the old ones': they met every event again.
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
        # Dropped in the swap's own transaction: a crash leaves either everything as it was or nothing behind.
        await owner.execute(f'DROP SCHEMA "{retired}" CASCADE')
        await owner.execute(f'DROP SCHEMA "{fresh}"')
    return done


def _tables_in(schema: str, projection: Projection) -> str:
    """The projection's tables in ``schema``, as one statement's list of names."""
    return ", ".join(f'"{schema}"."{table}"' for table in projection.tables)


async def _one_batch(
    conn: Connection, store: EventStore, projection: Projection, target: str, cursor: Cursor, batch_size: int
) -> tuple[Cursor, int]:
    batch = await store.read_all(cursor, limit=batch_size, conn=conn)
    if not batch:
        return cursor, 0
    await apply_guarded(conn, projection, batch, target, rebuild_name(projection.name))
    return Cursor(batch[-1].tx_id, batch[-1].global_position), len(batch)
