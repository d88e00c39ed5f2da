"""The monthly outcome report each programme keeps: built once by the worker, downloadable later."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import asyncpg
import msgspec

from domain.reporting.scope import ReportParams
from infra.db import Connection, tenant_connection
from projections import outcome_queries, read_models
from projections.outcome_reports import month_end_period, report_body
from projections.positions import report_position

KIND = "monthly_outcomes"


async def keep_monthly_reports(pool: asyncpg.Pool, today: dt.date) -> int:
    """Build and keep the monthly report due on ``today`` for every programme that lacks it; how many were built.

    Idempotent: a report already kept is left as it is (the primary key makes
    two workers racing harmless). Built at a report position pinned for the
    programme (``projections/positions.py``), kept beside the figures, so the kept
    figures are final and the same report is answered again by its position.
    """
    period_from, as_of = month_end_period(today)
    built = 0
    for programme in await pool.fetch(
        """SELECT p.programme_id, p.time_zone, p.suppress_below FROM programmes p
           WHERE NOT EXISTS (SELECT 1 FROM kept_reports k WHERE k.programme_id = p.programme_id
                             AND k.kind = $1 AND k.as_of = $2)""",
        KIND,
        as_of,
    ):
        programme_id: uuid.UUID = programme["programme_id"]
        async with tenant_connection(pool, programme_id) as conn:
            at = await report_position(conn, None, [read_models.NAME])
            params = ReportParams(
                from_date=period_from,
                to_date=as_of,
                as_of=as_of,
                time_zone=zoneinfo.ZoneInfo(programme["time_zone"]),
                as_of_position=at.position,
                as_of_horizon=at.horizon,
            )
            # Aggregated by PostgreSQL (outcome_queries): the worker holds a few rows, whatever the programme's size.
            report = await outcome_queries.outcome_report(conn, programme_id, params)
            async with conn.transaction():  # both editions or neither
                for audience in ("staff", "funder"):
                    body = report_body(
                        report,
                        params,
                        programme_id=programme_id,
                        audience=audience,
                        suppress_below=programme["suppress_below"],
                        global_position=at.position,
                    )
                    await conn.execute(
                        """INSERT INTO kept_reports (programme_id, kind, as_of, audience, period_from, period_to,
                                                     global_position, horizon, hash, body)
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT DO NOTHING""",
                        programme_id,
                        KIND,
                        as_of,
                        audience,
                        period_from,
                        as_of,
                        at.position,
                        at.horizon,
                        body.hash,
                        msgspec.json.encode(body).decode(),
                    )
        built += 1
    return built


class KeptReport(msgspec.Struct, frozen=True, kw_only=True, rename={"period_from": "from", "period_to": "to"}):
    """One kept report, as listed."""

    as_of: dt.date
    period_from: dt.date
    period_to: dt.date
    global_position: int
    hash: str
    created_at: dt.datetime


async def list_kept(pool: Connection | asyncpg.Pool, programme_id: uuid.UUID, audience: str) -> list[KeptReport]:
    """A programme's kept monthly reports for one audience, newest first."""
    rows = await pool.fetch(
        """SELECT as_of, period_from, period_to, global_position, hash, created_at FROM kept_reports
           WHERE programme_id = $1 AND kind = $2 AND audience = $3 ORDER BY as_of DESC""",
        programme_id,
        KIND,
        audience,
    )
    return [KeptReport(**dict(row.items())) for row in rows]


async def kept_body(
    pool: Connection | asyncpg.Pool, programme_id: uuid.UUID, as_of: dt.date, audience: str
) -> dict[str, Any] | None:
    """The body of one kept report, exactly as it was built."""
    body = await pool.fetchval(
        "SELECT body FROM kept_reports WHERE programme_id = $1 AND kind = $2 AND as_of = $3 AND audience = $4",
        programme_id,
        KIND,
        as_of,
        audience,
    )
    return body if isinstance(body, dict) else None
