"""Reports released to funders: one calendar quarter at a time, once, kept exactly as released.

Funders never choose a period, an ``as_of`` or a position: two answers over
nested groups of people (``from=2026-01-01`` and ``from=2026-01-02``) would
give away, by their difference, the figures of the few people between them,
whatever each answer suppresses. Quarters neither overlap nor nest, and each
is released once (migration 0016, docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import asyncpg
import msgspec

from infra.db import Connection

_PERIOD = re.compile(r"^(\d{4})-Q([1-4])$")


class PeriodError(ValueError):
    """A period that is not a calendar quarter ``YYYY-Qn``."""


def quarter(period: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a quarter named ``YYYY-Qn``."""
    match = _PERIOD.match(period)
    if match is None:
        raise PeriodError(f"{period!r} is not a calendar quarter such as 2026-Q1")
    year, number = int(match[1]), int(match[2])
    if not 1900 <= year <= 9998:
        raise PeriodError(f"{period!r} is out of range")
    first = dt.date(year, 3 * number - 2, 1)
    after = dt.date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1)
    return first, after - dt.timedelta(days=1)


def quarter_of(day: dt.date) -> str:
    """The name of the quarter ``day`` is in."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class Release(msgspec.Struct, frozen=True, kw_only=True, rename={"period_from": "from", "period_to": "to"}):
    """One released quarter, as listed."""

    period: str
    period_from: dt.date
    period_to: dt.date
    as_of: dt.date
    global_position: int
    released_at: dt.datetime


class Released(msgspec.Struct, frozen=True, kw_only=True):
    """What a release keeps: the funder editions, exactly as answered."""

    period: str
    outcomes: dict[str, Any]
    dashboards: dict[str, Any]
    """Response-rate dashboards by ``group_by`` (``""`` for the overall figures alone)."""


async def keep_release(
    conn: Connection,
    programme_id: uuid.UUID,
    period: str,
    *,
    as_of: dt.date,
    global_position: int,
    outcomes: dict[str, Any],
    dashboards: dict[str, Any],
    released_by: uuid.UUID,
) -> bool:
    """Keep a release; False when the quarter was released already (a release is never made again)."""
    first, last = quarter(period)
    status = await conn.execute(
        """INSERT INTO report_releases (programme_id, period, period_from, period_to, as_of, global_position,
                                        outcomes, dashboards, released_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9) ON CONFLICT DO NOTHING""",
        programme_id,
        period,
        first,
        last,
        as_of,
        global_position,
        msgspec.json.encode(outcomes).decode(),
        msgspec.json.encode(dashboards).decode(),
        released_by,
    )
    return bool(status.endswith(" 1"))


async def list_releases(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID) -> list[Release]:
    """A programme's releases, newest quarter first."""
    rows = await conn.fetch(
        """SELECT period, period_from, period_to, as_of, global_position, released_at FROM report_releases
           WHERE programme_id = $1 ORDER BY period_from DESC""",
        programme_id,
    )
    return [Release(**dict(row.items())) for row in rows]


async def released(conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, period: str | None) -> Released | None:
    """One release (the latest when ``period`` is None), or None."""
    row = await conn.fetchrow(
        """SELECT period, outcomes, dashboards FROM report_releases
           WHERE programme_id = $1 AND ($2::text IS NULL OR period = $2) ORDER BY period_from DESC LIMIT 1""",
        programme_id,
        period,
    )
    if row is None:
        return None
    return Released(period=row["period"], outcomes=row["outcomes"], dashboards=row["dashboards"])
