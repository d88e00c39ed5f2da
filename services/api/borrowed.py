"""A pool connection a request borrows goes back to the pool when the request ends, whatever became of its borrower.

The ``db`` dependency borrows a connection for the request (``tenant_connection``), and Litestar
closes that generator after the handler, before the response is sent. Litestar never closes it
when another dependency of the same route fails after ``db`` has reached its ``yield``: the
dependencies of a route are resolved side by side, and the failure leaves
``resolve_dependencies`` before it hands the group of generators to close to the route, so the
group is lost. The generator then stays suspended at its ``yield``, the connection checked out,
until the garbage collector finalizes it (asyncio then runs its ``aclose``), which may be never:
``Pool.close()`` waits for every checked-out connection, and the API's shutdown with it. (A funder's
``GET /v1/dashboards/response-rates?period=2025-H1``: ``asked`` refuses the period after ``db``
has its connection, which it gets without a round trip when the connection acts for the
programme already.)

So ``db`` records what it borrows (``borrowed``) and the API's one middleware
(``services.api.telemetry.RequestCycle``) opens the record as each request starts (``lending``) and
gives back at the request's end whatever is still in it (``give_back``). Normally nothing is: the
borrower gave it back already.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from asyncpg.pool import PoolConnectionProxy
from litestar.types import Scope

from infra.db import Pool

# The request's connections still to give back, in its scope's state: borrower's key -> (pool, connection).
_KEY: Final = "peoplelinks_borrowed_connections"

Lent = dict[int, tuple[Pool, PoolConnectionProxy]]


def lending(scope: Scope) -> Lent:
    """Open the request's record of borrowed connections; ``give_back`` it as the request ends."""
    lent: Lent = {}
    scope["state"][_KEY] = lent
    return lent


async def give_back(lent: Lent) -> None:
    """Give the connections still recorded back to their pools."""
    while lent:
        _, (pool, conn) = lent.popitem()
        # A no-op for a connection given back already (``Pool.release`` checks), even to a closed pool.
        await pool.release(conn)


@contextmanager
def borrowed(scope: Scope, pool: Pool, conn: PoolConnectionProxy) -> Iterator[None]:
    """Within the block, ``conn`` is given back to ``pool`` when the request ends if nobody gives it back before.

    Wrap the ``yield`` of a generator dependency in it, inside the block that gives ``conn`` back.
    """
    left: Lent | None = scope["state"].get(_KEY)
    if left is None:
        raise RuntimeError("a connection borrowed outside lending(): nothing would give it back")
    key = id(conn)
    left[key] = (pool, conn)
    try:
        yield
    finally:
        left.pop(key, None)
