"""Read models: projection status and the response-rate dashboard."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from domain.reporting.response_rates import GroupBy
from domain.reporting.scope import ReportParams
from domain.reporting.suppression import Cell, response_rate_cells, suppress_response_rates_for_funder
from infra.db import Connection, TenantConnection
from projections import read_models, report_facts
from projections.registry import PROJECTIONS
from projections.response_rate_queries import response_rates_at
from projections.runner import projection_status
from services.api.problems import InvalidRequest, problem_responses
from services.api.security import Principal, roles


class ProjectionOut(msgspec.Struct, frozen=True):
    """One projection: every event at or below ``checkpoint`` is applied; ``lag`` events are not yet."""

    name: str
    checkpoint: int
    lag: int


class ProjectionsOut(msgspec.Struct, frozen=True):
    """The store's head and each projection's checkpoint."""

    head: int
    projections: list[ProjectionOut]


class ResponseRatesOut(msgspec.Struct, frozen=True, rename={"from_date": "from", "to_date": "to"}):
    """The response-rate dashboard (reports.md, Response rates)."""

    from_date: dt.date
    to_date: dt.date
    as_of: dt.date
    global_position: int
    group_by: str | None
    overall: dict[str, Cell]
    groups: dict[str, dict[str, Cell]]


class ProgrammeSettings(msgspec.Struct, frozen=True):
    """What reports need to know of a programme."""

    time_zone: dt.tzinfo
    suppress_below: int
    follow_up_after_days: int


async def programme_settings(pool: Connection | asyncpg.Pool, programme_id: uuid.UUID) -> ProgrammeSettings:
    """The programme's time zone, suppression threshold and follow-up interval."""
    row = await pool.fetchrow(
        "SELECT time_zone, suppress_below, follow_up_after_days FROM programmes WHERE programme_id = $1", programme_id
    )
    if row is None:
        raise InvalidRequest("programme", "the programme no longer exists", status=404)
    return ProgrammeSettings(
        time_zone=zoneinfo.ZoneInfo(row["time_zone"]),
        suppress_below=row["suppress_below"],
        follow_up_after_days=row["follow_up_after_days"],
    )


async def report_position(
    pool: Connection | asyncpg.Pool, requested: int | None, projection: str = report_facts.NAME
) -> int:
    """The position a report is computed at: every event up to it is in the read model ``projection`` keeps.

    Asking for a later position than the read model holds is refused rather than
    answered with figures that would change once the worker catches up.
    """
    _, statuses = await projection_status(pool, [projection])
    ready = statuses[0].checkpoint
    if requested is None:
        return ready
    if requested > ready:
        raise InvalidRequest(
            "as_of_position", f"the read models hold events up to {ready} so far; retry shortly", status=409
        )
    return requested


def today_in(zone: dt.tzinfo) -> dt.date:
    """Today's date in a programme's time zone."""
    return dt.datetime.now(zone).date()


DateQuery = Annotated[dt.date | None, QueryParameter(description="a date, YYYY-MM-DD")]


class ReadingController(Controller):
    """``/v1/projections`` and ``/v1/dashboards/response-rates``."""

    tags = ("read models",)

    @get(
        "/v1/projections",
        opt=roles("admin", "staff", "counselor"),
        operation_id="projections",
        responses=problem_responses(401, 403),
        summary="Each projection's checkpoint, the store's head and the lag",
    )
    async def projections(self, db: NamedDependency[TenantConnection]) -> ProjectionsOut:
        head, statuses = await projection_status(db, list(PROJECTIONS))
        return ProjectionsOut(
            head=head, projections=[ProjectionOut(name=s.name, checkpoint=s.checkpoint, lag=s.lag) for s in statuses]
        )

    @get(
        "/v1/dashboards/response-rates",
        opt=roles("admin", "staff", "counselor", "funder"),
        operation_id="responseRates",
        responses=problem_responses(400, 401, 403, 409, 422),
        summary="Response rates: five out for one back",
    )
    async def response_rates(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        from_date: Annotated[dt.date | None, QueryParameter(name="from", description="first day, inclusive")] = None,
        to_date: Annotated[dt.date | None, QueryParameter(name="to", description="last day, inclusive")] = None,
        as_of: Annotated[dt.date | None, QueryParameter(description="the day the dashboard looks from")] = None,
        group_by: FromQuery[GroupBy | None] = None,
        counselor_id: FromQuery[uuid.UUID | None] = None,
        cohort: FromQuery[str | None] = None,
        as_of_position: FromQuery[int | None] = None,
    ) -> ResponseRatesOut:
        principal = request.user
        programme = await programme_settings(db, principal.programme_id)
        as_of = as_of or today_in(programme.time_zone)
        to_date = to_date or as_of
        from_date = from_date or to_date.replace(day=1)
        if from_date > to_date:
            raise InvalidRequest("from", "from is after to")
        funder = principal.role == "funder"
        if funder and (group_by == "counselor" or counselor_id is not None):
            raise InvalidRequest(
                "group_by" if group_by == "counselor" else "counselor_id",
                "funders see no per-counselor figures",
                status=403,
            )
        position = await report_position(db, as_of_position, read_models.NAME)
        params = ReportParams(
            from_date=from_date,
            to_date=to_date,
            as_of=as_of,
            time_zone=programme.time_zone,
            as_of_position=position,
            cohort=cohort,
            counselor_id=counselor_id,
        )
        rates = await response_rates_at(db, principal.programme_id, params, group_by)
        cells = (
            suppress_response_rates_for_funder(rates, programme.suppress_below)
            if funder
            else response_rate_cells(rates)
        )
        return ResponseRatesOut(
            from_date=from_date,
            to_date=to_date,
            as_of=as_of,
            global_position=position,
            group_by=group_by,
            overall=cells.overall,
            groups=cells.groups,
        )
