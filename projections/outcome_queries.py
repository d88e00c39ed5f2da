"""The outcome report answered from the read-model tables: aggregated by PostgreSQL, shaped here.

The query (``outcome_queries/outcome_groups.sql``) computes each cohort
participant's outcome and sums them per group of every breakdown with
GROUPING SETS; this module only turns its few rows into the
``domain.reporting.outcomes.OutcomeReport`` that ``outcome_report()`` of the
pure functions gives for the same events (the property tests hold the two
equal), dividing rates with the same ``ratio`` so that the floats, and the
report's hash, are the same.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Final

import asyncpg

from domain import events as ev
from domain.reporting.measures import ratio
from domain.reporting.outcomes import (
    BETTER_JOB_WINDOW,
    BREAKDOWNS,
    PLACEMENT_WINDOW,
    REFERRAL_SOURCES,
    SECOND_JOB_WINDOW,
    Outcome,
    OutcomeFigures,
    OutcomeReport,
    Populations,
    Retention,
)
from domain.reporting.scope import ONE_DAY, ReportParams, start_of_day
from infra.db import Connection
from projections.queries import fetch_planned_per_call

QUERIES: Final[dict[str, str]] = {
    path.stem: path.read_text(encoding="utf-8") for path in (Path(__file__).parent / "outcome_queries").glob("*.sql")
}
"""The named queries of this module, one ``.sql`` file each."""

UNBOUNDED: Final = sys.maxsize
"""A position or horizon that holds every stored event (bigint's largest)."""

_GROUPED: Final[tuple[str, ...]] = (*BREAKDOWNS, "first_source")
"""The query's GROUPING(...) columns, most significant bit first; each breakdown names its column."""


def _grouped(grouping_set: int) -> set[str]:
    """The columns a row of the query is grouped by (GROUPING() sets a bit for each column it is not)."""
    width = len(_GROUPED)
    return {name for bit, name in enumerate(_GROUPED) if not grouping_set >> (width - 1 - bit) & 1}


def _retention(row: asyncpg.Record | None, days: int) -> Retention:
    if row is None:
        return Retention(eligible=0, retained=0, lost=0, unknown=0, rate=None)
    retained, lost, unknown = row[f"retained_{days}"], row[f"lost_{days}"], row[f"unknown_{days}"]
    eligible = retained + lost + unknown
    return Retention(eligible=eligible, retained=retained, lost=lost, unknown=unknown, rate=ratio(retained, eligible))


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _outcome(row: asyncpg.Record, by_source: dict[str, asyncpg.Record]) -> Outcome:
    """The figures of one group: its row, and its rows split by the first hire's source."""
    enrolled, placed = row["enrolled"], row["placed"]
    hires_by_source = {source: by_source[source]["placed"] if source in by_source else 0 for source in ev.HIRE_SOURCES}
    referral_hires = sum(hires_by_source[source] for source in REFERRAL_SOURCES)
    links, sent, answered = row["people_links"] or 0, row["outreach_sent"] or 0, row["outreach_answered"] or 0
    median_days = row["median_days_to_placement"]
    figures = OutcomeFigures(
        enrolled=enrolled,
        placed=placed,
        placement_rate=ratio(placed, enrolled),
        placed_within_180d=row["placed_within_180d"],
        median_days_to_placement=None if median_days is None else float(median_days),
        median_starting_wage=_money(row["median_starting_wage"]),
        hires_by_source=hires_by_source,
        referral_share=ratio(referral_hires, placed),
        retention_30=_retention(row, 30),
        retention_90=_retention(row, 90),
        retention_180=_retention(row, 180),
        retention_by_source_90={source: _retention(by_source.get(source), 90) for source in ev.HIRE_SOURCES},
        second_job_or_promotion=row["second_job_or_promotion"],
        people_links_per_participant=ratio(links, enrolled),
        outreach_per_participant=ratio(sent, enrolled),
        response_rate=ratio(answered, sent),
        employed_q2_after_exit=ratio(row["q2_employed"], row["q2_eligible"]),
        employed_q4_after_exit=ratio(row["q4_employed"], row["q4_eligible"]),
        returned_to_custody=row["returned_to_custody"],
    )
    populations = Populations(
        with_wage=row["with_wage"],
        referral_hires=referral_hires,
        people_links=links,
        outreach_sent=sent,
        outreach_answered=answered,
        q2_eligible=row["q2_eligible"],
        q2_employed=row["q2_employed"],
        q4_eligible=row["q4_eligible"],
        q4_employed=row["q4_employed"],
    )
    return Outcome(figures=figures, populations=populations)


def report_from_rows(rows: list[asyncpg.Record]) -> OutcomeReport:
    """The report from the query's rows: one per group of each breakdown (the whole cohort is the empty one)."""
    groups: dict[tuple[str, str], asyncpg.Record] = {}
    sources: dict[tuple[str, str], dict[str, asyncpg.Record]] = {}
    for row in rows:
        grouped = _grouped(row["grouping_set"])
        by_source = "first_source" in grouped
        breakdown = next((name for name in BREAKDOWNS if name in grouped), "")
        scope = (breakdown, row[breakdown] if breakdown else "")
        if not by_source:
            groups[scope] = row
        elif row["first_source"] is not None:  # the participants not placed, who have no first hire
            sources.setdefault(scope, {})[row["first_source"]] = row
    overall = _outcome(groups[("", "")], sources.get(("", ""), {}))
    breakdowns: dict[str, dict[str, Outcome]] = {name: {} for name in BREAKDOWNS}
    for breakdown, key in sorted(scope for scope in groups if scope[0]):
        breakdowns[breakdown][key] = _outcome(groups[(breakdown, key)], sources.get((breakdown, key), {}))
    return OutcomeReport(figures=overall.figures, populations=overall.populations, breakdowns=breakdowns)


def outcome_arguments(programme_id: uuid.UUID, params: ReportParams) -> tuple[object, ...]:
    """The query's parameters ($1 … $13, in order) for a report of one programme at the params' position (P, H)."""
    return (
        programme_id,
        UNBOUNDED if params.as_of_position is None else params.as_of_position,
        UNBOUNDED if params.as_of_horizon is None else params.as_of_horizon,
        start_of_day(params.as_of + ONE_DAY, params.time_zone),
        params.as_of,
        params.from_date,
        min(params.to_date, params.as_of),
        start_of_day(params.from_date, params.time_zone),
        params.cohort,
        params.counselor_id,
        PLACEMENT_WINDOW // dt.timedelta(days=1),
        BETTER_JOB_WINDOW // dt.timedelta(days=1),
        SECOND_JOB_WINDOW // dt.timedelta(days=1),
    )


async def outcome_report(conn: Connection, programme_id: uuid.UUID, params: ReportParams) -> OutcomeReport:
    """The programme outcome report of ``reports.md`` for ``params``, from the read-model tables.

    Equal to ``domain.reporting.outcomes.outcome_report(facts, params)`` over the same events (property-tested).
    """
    rows = await fetch_planned_per_call(conn, QUERIES["outcome_groups"], *outcome_arguments(programme_id, params))
    return report_from_rows(rows)
