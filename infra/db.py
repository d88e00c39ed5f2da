"""Connection pools (the API's, the worker's, the owner's) and the tenant a connection acts for.

Row-level security (migration 0006) shows the application role only the rows
of the programme named by the session setting ``peoplelinks.programme_id``.
``tenant_connection`` sets it on a connection taken from the pool; the pool's
``RESET ALL`` on release clears it again (the role, set at connection start,
survives that), so a connection never carries one request's programme into
the next.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from infra.settings import Settings

Pool: TypeAlias = asyncpg.Pool
# A connection, whether taken from a pool or opened alone.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# A pool's connection acting for one programme (what ``tenant_connection`` yields).
TenantConnection: TypeAlias = PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog", format="text"
    )


def _encode_json(value: Any) -> str:
    """Pre-encoded JSON passes through; anything else is encoded by msgspec."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    return msgspec.json.encode(value).decode()


async def create_app_pool(
    settings: Settings, *, min_size: int | None = None, max_size: int | None = None, role: str | None = None
) -> Pool:
    """The API's pool: every connection acts as the application role (or ``role``).

    The timeouts guard the horizon the gap-free reader depends on: a statement
    or an idle transaction left open would hold back every reader.
    """

    async def setup(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)

    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.pool_min_size if min_size is None else min_size,
        max_size=settings.pool_max_size if max_size is None else max_size,
        init=setup,
        server_settings={
            "role": role or settings.app_role,
            "statement_timeout": str(settings.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
            "application_name": "peoplelinks",
        },
    )
    assert pool is not None
    return pool


async def create_worker_pool(settings: Settings, *, min_size: int = 1, max_size: int = 4) -> Pool:
    """The worker's pool: acting as the worker role, which keeps the read models of every programme."""
    return await create_app_pool(settings, min_size=min_size, max_size=max_size, role=settings.worker_role)


@asynccontextmanager
async def tenant_connection(pool: Pool, programme_id: uuid.UUID) -> AsyncIterator[TenantConnection]:
    """A connection of ``pool`` that sees only ``programme_id``'s rows until it goes back to the pool."""
    async with pool.acquire() as conn:
        await conn.execute("SELECT set_config('peoplelinks.programme_id', $1, false)", str(programme_id))
        yield conn


async def connect_owner(settings: Settings) -> asyncpg.Connection:
    """One connection as the configured (owning) user, for migrations and administration."""
    conn: asyncpg.Connection = await asyncpg.connect(settings.database_url)
    await _init_connection(conn)
    return conn
