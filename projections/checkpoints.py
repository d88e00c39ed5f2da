"""Where each projection stands: its checkpoint in the store's gap-free order, and its advisory lock."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Final

import asyncpg
import msgspec

from infra.db import Connection
from infra.event_store import Cursor

BATCH_SIZE: Final = 2000
"""Events a projection applies per transaction, in the worker and in ``peoplelinks rebuild`` (whose default was
5,000): at 1M events, batches of 5,000 were about as fast (a rebuild in 82 s against 87) and of 8,000 slower
(bench/RESULTS.md)."""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where one projection stands."""

    name: str
    cursor: Cursor
    events: int
    updated_at: dt.datetime | None


def lock_key(name: str) -> int:
    """The advisory lock of one projection (shared by the live runner and a rebuild)."""
    return zlib.crc32(f"peoplelinks:projection:{name}".encode()) - 2**31


async def try_lock(conn: Connection, name: str) -> bool:
    """Take one projection's lock for the transaction ``conn`` is in, unless another process holds it."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_key(name)))


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


async def save_checkpoint(conn: Connection, name: str, cursor: Cursor, applied: int) -> None:
    """Move a checkpoint past ``applied`` more events (in the transaction that applied them)."""
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
