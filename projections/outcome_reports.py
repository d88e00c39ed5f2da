"""Outcome reports as answered and as kept: the figures for an audience, with their position and hash.

Shared by the API (answers on request) and the worker (the monthly reports it
keeps), so that a kept report and one asked for again by ``as_of_position``
are built, and hashed, by the same code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any, Literal

import msgspec

from domain.reporting.facts import Facts
from domain.reporting.outcomes import OutcomeReport, outcome_report
from domain.reporting.scope import ReportParams
from domain.reporting.suppression import FigureCells, outcome_cells, suppress_for_funder
from infra.db import Connection
from projections import outcome_queries

Audience = Literal["staff", "funder"]
_CANONICAL = msgspec.json.Encoder(order="sorted")


class OutcomeReportBody(msgspec.Struct, frozen=True, kw_only=True, rename={"from_date": "from", "to_date": "to"}):
    """The outcome report as answered (reports.md, Programme outcome report; api.md, The shape of a report)."""

    programme_id: uuid.UUID
    from_date: dt.date
    to_date: dt.date
    as_of: dt.date
    global_position: int
    audience: Audience
    cohort: str | None
    counselor_id: uuid.UUID | None
    figures: FigureCells
    breakdowns: dict[str, dict[str, FigureCells]]
    hash: str = ""
    """sha256 of the canonical JSON of every other field (``content_hash``)."""


def content_hash(body: dict[str, Any]) -> str:
    """sha256 over the canonical JSON (sorted keys) of everything the answer says but the hash itself."""
    return "sha256:" + hashlib.sha256(_CANONICAL.encode({k: v for k, v in body.items() if k != "hash"})).hexdigest()


def outcome_body(
    facts: Facts,
    params: ReportParams,
    *,
    programme_id: uuid.UUID,
    audience: Audience,
    suppress_below: int,
    global_position: int,
) -> OutcomeReportBody:
    """The report's answer for one audience (suppressed for funders), hash included, from facts in memory.

    Kept for the tests (exports, funder differencing); the API and the worker answer from SQL (``outcome_queries``).
    """
    return report_body(
        outcome_report(facts, params),
        params,
        programme_id=programme_id,
        audience=audience,
        suppress_below=suppress_below,
        global_position=global_position,
    )


async def answer_outcomes(
    conn: Connection,
    params: ReportParams,
    *,
    programme_id: uuid.UUID,
    audience: Audience,
    suppress_below: int,
    global_position: int,
) -> OutcomeReportBody:
    """The report's answer from the read-model tables (``outcome_queries``), hash included.

    The same body, and hash, as ``outcome_body`` over the same events: the SQL gives the
    ``OutcomeReport`` the pure functions give (property-tested), and both are shaped here.
    """
    return report_body(
        await outcome_queries.outcome_report(conn, programme_id, params),
        params,
        programme_id=programme_id,
        audience=audience,
        suppress_below=suppress_below,
        global_position=global_position,
    )


def report_body(
    report: OutcomeReport,
    params: ReportParams,
    *,
    programme_id: uuid.UUID,
    audience: Audience,
    suppress_below: int,
    global_position: int,
) -> OutcomeReportBody:
    """The answer of a computed report for one audience (suppressed for funders), hash included."""
    cells = suppress_for_funder(report, suppress_below) if audience == "funder" else outcome_cells(report)
    unhashed = OutcomeReportBody(
        programme_id=programme_id,
        from_date=params.from_date,
        to_date=params.to_date,
        as_of=params.as_of,
        global_position=global_position,
        audience=audience,
        cohort=params.cohort,
        counselor_id=params.counselor_id,
        figures=cells.figures,
        breakdowns=cells.breakdowns,
    )
    return msgspec.structs.replace(unhashed, hash=content_hash(msgspec.to_builtins(unhashed)))


def month_end_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The monthly report due on ``today``: enrolments of the year so far, as of the last day of last month."""
    as_of = today.replace(day=1) - dt.timedelta(days=1)
    return as_of.replace(month=1, day=1), as_of
