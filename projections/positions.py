"""Report positions: the (P, H) a report answers at, pinned so that asking again gives the same figures.

A report answers at a global_position P that the read models have settled
(every visible event at or below P applied) and at the transaction horizon H
taken when P was first answered (``pg_snapshot_xmin``). It counts what events
at or below P stored by transactions below H made. An append that drew a
position at or below P and commits later has a transaction id at or above H, so
it never enters the figures at (P, H) (docs/decisions.md, Reading: reports
computed at a settled position). The first pin of a P for a programme wins, and
``as_of_position = P`` looks it up, so the same P always means the same H.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.reporting.facts import ReportPosition
from infra.db import Connection
from projections.runner import projection_status

__all__ = ["InvalidPosition", "PositionNotReached", "ReportPosition", "report_position", "settled_checkpoint"]


class InvalidPosition(ValueError):
    """A position that no report can be asked at (a negative one)."""


class PositionNotReached(Exception):
    """A position beyond what the read models have settled so far: asked again later, it may be answered."""

    def __init__(self, requested: int, ready: int) -> None:
        self.requested = requested
        self.ready = ready
        super().__init__(f"the read models hold events up to {ready} so far, not {requested}")


async def settled_checkpoint(conn: Connection | asyncpg.Pool, projections: Sequence[str]) -> int:
    """The highest position at or below which every visible event is applied by each of ``projections``."""
    _, statuses = await projection_status(conn, projections)
    return min(status.checkpoint for status in statuses)


async def report_position(conn: Connection, requested: int | None, projections: Sequence[str]) -> ReportPosition:
    """The report position to answer at: the one pinned for ``requested``, or a new pin.

    ``requested`` None asks for the latest settled position of ``projections``. The
    connection acts for one programme (``tenant_connection``): pins are kept per
    programme. It must not be inside a repeatable-read transaction, so that a pin
    another process made meanwhile is found rather than refused.
    """
    if requested is not None:
        if requested < 0:
            raise InvalidPosition(f"a position is never negative, got {requested}")
        pinned = await _pinned(conn, requested)
        if pinned is not None:
            return pinned
    # The horizon first, the checkpoint after: every transaction below the horizon has finished by then,
    # so the checkpoint's (later) snapshot sees each event they stored (see docs/decisions.md).
    horizon = int(await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
    ready = await settled_checkpoint(conn, projections)
    position = ready if requested is None else requested
    if position > ready:
        raise PositionNotReached(position, ready)
    try:
        # First pin wins: a concurrent pin of the same position is kept, and read back below.
        won = await conn.fetchval(
            """INSERT INTO report_positions (programme_id, position, horizon) VALUES (peoplelinks_tenant(), $1, $2)
               ON CONFLICT DO NOTHING RETURNING horizon""",
            position,
            horizon,
        )
    except asyncpg.NotNullViolationError as e:
        raise RuntimeError("report positions are pinned per programme, and this connection acts for none") from e
    if won is not None:
        return ReportPosition(position, int(won))
    pinned = await _pinned(conn, position)
    assert pinned is not None, "a pin that conflicted is there to read"
    return pinned


async def _pinned(conn: Connection, position: int) -> ReportPosition | None:
    horizon = await conn.fetchval(
        "SELECT horizon FROM report_positions WHERE programme_id = peoplelinks_tenant() AND position = $1", position
    )
    return None if horizon is None else ReportPosition(position, int(horizon))
