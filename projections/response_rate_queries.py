"""The response-rate dashboard answered with SQL over the ``rm_*`` tables, aggregated in PostgreSQL.

``domain.reporting.response_rates.response_rates`` stays the definition; this gives
the same ``ResponseRates`` (property tests hold the two equal), so funder
suppression applies unchanged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Final

import asyncpg

from domain.reporting.measures import ratio
from domain.reporting.response_rates import (
    ENUM_GROUPS,
    GroupBy,
    ResponseRateRow,
    ResponseRates,
    ResponseTally,
    group_sort_key,
)
from domain.reporting.scope import ONE_DAY, AsOf, ReportParams, start_of_day
from infra.db import Connection
from projections import read_models
from projections.caseload_queries import PARTICIPANTS_AS_OF, population_args
from projections.queries import fetch_planned_per_call, load_queries, read_fragment

QUERIES: Final = load_queries(
    "response_rate_queries",
    {
        "participants_as_of": PARTICIPANTS_AS_OF,
        "attempts": read_fragment("response_rate_queries", "attempts"),
        "live_people": read_fragment(read_models.NAME, "live_people"),
    },
)


def zone_name(zone: dt.tzinfo) -> str:
    """The IANA name PostgreSQL knows the zone by (a ``ZoneInfo``'s key; ``UTC`` for ``datetime.UTC``)."""
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    if zone.utcoffset(None) == dt.timedelta(0):
        return "UTC"
    raise ValueError(f"{zone!r} has no IANA name for PostgreSQL")


def _row(record: asyncpg.Record) -> ResponseRateRow:
    sent, answered, positive = record["sent"], record["answered"], record["positive"]
    return ResponseRateRow(
        sent=sent,
        answered=answered,
        response_rate=ratio(answered, sent),
        positive_rate=ratio(positive, sent),
        median_days_to_response=record["median_days"],
        ratio_out_per_reply=ratio(sent, answered),
        positive=positive,
    )


async def response_rates_at(
    conn: Connection,
    programme_id: uuid.UUID,
    params: ReportParams,
    group_by: GroupBy | None = None,
) -> ResponseRates:
    """The dashboard of one programme for ``params`` at its report position (``as_of_position``, ``as_of_horizon``)."""
    as_of = AsOf(params)
    start = start_of_day(params.from_date, params.time_zone)
    stop = min(start_of_day(params.to_date + ONE_DAY, params.time_zone), as_of.end)
    args = (
        *population_args(programme_id, as_of, params.cohort, params.counselor_id),
        start,
        stop,
        group_by,
        zone_name(params.time_zone),
    )
    rows: list[asyncpg.Record] = []
    if params.cohort is None and params.counselor_id is None:
        # Programme-wide: from the worker's tallies, unless they are counted in another zone (a zone changed
        # since the worker's last batch) or not all counted yet (migration 0025): then, as for one cohort or
        # counselor, from the rows.
        last_day = min(params.to_date, params.as_of)
        rows = await fetch_planned_per_call(conn, QUERIES["response_rates_tallied"], *args, params.from_date, last_day)
        if not rows[0]["zone_kept"]:
            rows = []
    if not rows:
        rows = await fetch_planned_per_call(conn, QUERIES["response_rates"], *args)
    overall = ResponseTally().row()
    found: dict[str, ResponseRateRow] = {}
    for record in rows:
        if not record["grouped"]:
            overall = _row(record)
        elif group_by is not None:
            found[record["key"]] = _row(record)
    groups: dict[str, ResponseRateRow] = {}
    if group_by in ENUM_GROUPS:
        # Every value of the enum, sent or not, in the enum's order.
        groups = {key: found.get(key) or ResponseTally().row() for key in ENUM_GROUPS[group_by]}
    elif group_by is not None:
        groups = {key: found[key] for key in sorted(found, key=group_sort_key(group_by))}
    return ResponseRates(group_by=group_by, overall=overall, groups=groups)
