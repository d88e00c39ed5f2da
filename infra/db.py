"""Connection pools: the application's (acting as the app role, with timeouts) and the owner's."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from infra.settings import Settings

Pool: TypeAlias = asyncpg.Pool
# A connection, whether taken from a pool or opened alone.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


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


async def create_app_pool(settings: Settings, *, min_size: int | None = None, max_size: int | None = None) -> Pool:
    """The pool the services use: every connection acts as the application role.

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
            "role": settings.app_role,
            "statement_timeout": str(settings.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
            "application_name": "peoplelinks",
        },
    )
    assert pool is not None
    return pool


async def connect_owner(settings: Settings) -> asyncpg.Connection:
    """One connection as the configured (owning) user, for migrations and administration."""
    conn: asyncpg.Connection = await asyncpg.connect(settings.database_url)
    await _init_connection(conn)
    return conn
