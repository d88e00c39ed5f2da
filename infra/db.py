"""Connection pools (the API's, the worker's, the owner's) and the tenant a connection acts for.

Row-level security (migration 0006) shows the application role only the rows
of the programme named by the session setting ``peoplelinks.programme_id``.

Pools made here decide what a connection acts for as it is handed out, not as
it comes back: each remembers which programme every one of its connections
acts for, and on each acquire makes it act for the programme asked for by
``tenant_connection``, or for none when acquired any other way
(``pool.acquire()``, ``pool.fetch``…), with one ``set_config`` only when that
differs from what it acts for already. So a connection never carries one
request's programme into another request (it acts for another programme, or
for none, before anyone can use it), and a request of the programme the
connection last served costs no round trip for it. Back from a
``tenant_connection`` block a connection needs no reset (its one session
change is the programme, which the next acquire decides); back from any other
use it gets asyncpg's full reset (``RESET ALL``, …) as before, since such code
may have changed anything. Code inside a ``tenant_connection`` block must not
change session state itself (no ``SET``, ``set_config``, ``LISTEN`` or
session advisory locks): nothing would undo it.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias

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


_SET_PROGRAMME: Final = "SELECT set_config('peoplelinks.programme_id', $1, false)"


class _Lease:
    """What ``tenant_connection`` asks of the acquire it is in: act for ``programme_id``."""

    __slots__ = ("granted", "programme_id")

    def __init__(self, programme_id: uuid.UUID) -> None:
        self.programme_id = programme_id
        self.granted = False


# Set by ``tenant_connection`` around its ``pool.acquire()`` only, so the pool's setup (which runs inside that
# acquire, in the same task) knows what the connection must act for; every other acquire finds None.
_ASKED: Final[contextvars.ContextVar[_Lease | None]] = contextvars.ContextVar("peoplelinks_tenant_lease", default=None)


class _TenantTracking:
    """Which programme each connection of one pool acts for (by server process id), and how it was lent."""

    _UNKNOWN: Final = object()

    def __init__(self) -> None:
        # pid -> the programme it acts for (None: none); a pid absent means unknown, so it is set before use.
        self._acting: dict[int, uuid.UUID | None] = {}
        # pid -> whether it is lent to a tenant_connection block (then no reset on its return).
        self._lent_to_tenant: dict[int, bool] = {}

    async def new_connection(self, conn: asyncpg.Connection) -> None:
        """A new connection acts for nobody (a reused pid of a closed one forgets that one's state)."""
        self._acting[conn.get_server_pid()] = None
        self._lent_to_tenant[conn.get_server_pid()] = False

    async def acquired(self, conn: PoolConnectionProxy) -> None:
        """As the pool hands ``conn`` out: make it act for the programme asked for, or for none."""
        lease = _ASKED.get()
        wanted = lease.programme_id if lease is not None else None
        pid = conn.get_server_pid()
        self._lent_to_tenant[pid] = lease is not None
        if self._acting.get(pid, self._UNKNOWN) != wanted:
            # Unknown until the setting is confirmed: a failure or a cancellation here leaves it to be set again.
            self._acting.pop(pid, None)
            await conn.execute(_SET_PROGRAMME, "" if wanted is None else str(wanted))
            self._acting[pid] = wanted
        if lease is not None:
            lease.granted = True

    async def released(self, conn: asyncpg.Connection) -> None:
        """As ``conn`` comes back (asyncpg has rolled back any transaction): reset it unless a tenant block had it."""
        pid = conn.get_server_pid()
        if self._lent_to_tenant.get(pid, False):
            return
        self._acting.pop(pid, None)
        await conn.reset()
        self._acting[pid] = None


async def create_app_pool(
    settings: Settings, *, min_size: int | None = None, max_size: int | None = None, role: str | None = None
) -> Pool:
    """The API's pool: every connection acts as the application role (or ``role``).

    The timeouts guard the horizon the gap-free reader depends on: a statement
    or an idle transaction left open would hold back every reader.
    """

    tracking = _TenantTracking()

    async def setup(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        await tracking.new_connection(conn)

    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.pool_min_size if min_size is None else min_size,
        max_size=settings.pool_max_size if max_size is None else max_size,
        init=setup,
        setup=tracking.acquired,
        reset=tracking.released,
        server_settings={
            "role": role or settings.app_role,
            "statement_timeout": str(settings.statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
            "application_name": "peoplelinks",
            # No JIT compilation: the planner's cost of a statement with correlated subqueries over the events
            # (the projection status's holds) passed jit_optimize_above_cost at 10M events, and every read paid
            # ~200 ms compiling a statement that returned no row. Reports turned it off already.
            "jit": "off",
        },
    )
    assert pool is not None
    return pool


async def create_worker_pool(settings: Settings, *, min_size: int = 1, max_size: int = 4) -> Pool:
    """The worker's pool: acting as the worker role, which keeps the read models of every programme."""
    return await create_app_pool(settings, min_size=min_size, max_size=max_size, role=settings.worker_role)


@asynccontextmanager
async def tenant_connection(pool: Pool, programme_id: uuid.UUID) -> AsyncIterator[TenantConnection]:
    """A connection of ``pool`` that sees only ``programme_id``'s rows until it goes back to the pool.

    With a pool of ``create_app_pool`` the acquire itself makes the connection act for the programme (see the
    module docstring); with any other pool the setting is made here, and that pool's reset clears it.
    """
    lease = _Lease(programme_id)
    token = _ASKED.set(lease)
    try:
        conn: PoolConnectionProxy = await pool.acquire()
    finally:
        _ASKED.reset(token)
    try:
        if not lease.granted:
            await conn.execute(_SET_PROGRAMME, str(programme_id))
        yield conn
    finally:
        await pool.release(conn)


async def connect_owner(settings: Settings) -> asyncpg.Connection:
    """One connection as the configured (owning) user, for migrations and administration."""
    conn: asyncpg.Connection = await asyncpg.connect(settings.database_url)
    await _init_connection(conn)
    return conn
