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
from projections import positions, read_models
from projections.positions import ReportPosition
from projections.registry import PROJECTIONS
from projections.releases import quarter, released
from projections.response_rate_queries import response_rates_at
from projections.runner import HeldAt, projection_status
from services.api.limits import report_quota
from services.api.problems import InvalidRequest, problem_responses
from services.api.security import Principal, roles


class ProjectionOut(msgspec.Struct, frozen=True):
    """One projection: every event at or below ``checkpoint`` is applied; ``lag`` events are not yet.

    ``held`` names the event the projection cannot apply for this programme, and why: the programme's
    read models stay below it until it is fixed or skipped (docs/operations.md).
    """

    name: str
    checkpoint: int
    lag: int
    held: list[HeldAt] = []


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


async def report_position(db: TenantConnection, requested: int | None) -> ReportPosition:
    """The report position (P, H) a read is computed at (``projections/positions.py``), errors as problems.

    Asking for a later position than the read model holds is refused rather than
    answered with figures that would change once the worker catches up.
    """
    try:
        return await positions.report_position(db, requested, [read_models.NAME])
    except positions.InvalidPosition as e:
        raise InvalidRequest("as_of_position", str(e)) from e
    except positions.PositionNotReached as e:
        raise InvalidRequest(
            "as_of_position", f"the read models hold events up to {e.ready} so far; retry shortly", status=409
        ) from e


def today_in(zone: dt.tzinfo) -> dt.date:
    """Today's date in a programme's time zone."""
    return dt.datetime.now(zone).date()


async def build_response_rates(
    db: TenantConnection,
    principal: Principal,
    *,
    from_date: dt.date | None,
    to_date: dt.date | None,
    as_of: dt.date | None,
    group_by: GroupBy | None,
    counselor_id: uuid.UUID | None,
    cohort: str | None,
    as_of_position: int | None,
) -> ResponseRatesOut:
    """The response-rate dashboard for this caller (suppressed for a funder), at its position."""
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
    at = await report_position(db, as_of_position)
    params = ReportParams(
        from_date=from_date,
        to_date=to_date,
        as_of=as_of,
        time_zone=programme.time_zone,
        as_of_position=at.position,
        as_of_horizon=at.horizon,
        cohort=cohort,
        counselor_id=counselor_id,
    )
    rates = await response_rates_at(db, principal.programme_id, params, group_by)
    cells = (
        suppress_response_rates_for_funder(rates, programme.suppress_below) if funder else response_rate_cells(rates)
    )
    return ResponseRatesOut(
        from_date=from_date,
        to_date=to_date,
        as_of=as_of,
        global_position=at.position,
        group_by=group_by,
        overall=cells.overall,
        groups=cells.groups,
    )


def refuse_chosen_parameters(chosen: dict[str, object]) -> None:
    """Funders read released reports only: any period, day or position they choose themselves is refused."""
    for field, value in chosen.items():
        if value is not None:
            raise InvalidRequest(
                field,
                "funders receive the reports released for them: ask with period= (GET /v1/reports/releases lists "
                "them), not with from, to, as_of, cohort or as_of_position",
                status=403,
            )


async def released_dashboard(
    db: TenantConnection, principal: Principal, period: str | None, group_by: GroupBy | None, refused: dict[str, object]
) -> ResponseRatesOut:
    """The response-rate dashboard as released to funders for ``period`` (the latest when None)."""
    refuse_chosen_parameters(refused)
    if group_by == "counselor":
        raise InvalidRequest("group_by", "funders see no per-counselor figures", status=403)
    release = await released(db, principal.programme_id, period)
    if release is None:
        raise InvalidRequest("period", "no report has been released to funders for this period", status=404)
    return msgspec.convert(release.dashboards[group_by or ""], ResponseRatesOut)


PeriodQuery = Annotated[
    str | None,
    QueryParameter(
        description="a released quarter, YYYY-Qn (funders: the latest released when omitted)",
        pattern=r"^[0-9]{4}-Q[1-4]$",
    ),
]


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
            head=head,
            projections=[ProjectionOut(name=s.name, checkpoint=s.checkpoint, lag=s.lag, held=s.held) for s in statuses],
        )

    @get(
        "/v1/dashboards/response-rates",
        opt={**roles("admin", "staff", "counselor", "funder"), **report_quota()},
        operation_id="responseRates",
        responses=problem_responses(400, 401, 403, 409, 422, 429),
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
        period: PeriodQuery = None,
    ) -> ResponseRatesOut:
        if request.user.role == "funder":
            return await released_dashboard(
                db,
                request.user,
                period,
                group_by,
                refused={
                    "from": from_date,
                    "to": to_date,
                    "as_of": as_of,
                    "counselor_id": counselor_id,
                    "cohort": cohort,
                    "as_of_position": as_of_position,
                },
            )
        if period is not None:
            if from_date is not None or to_date is not None:
                raise InvalidRequest("period", "give a period or from and to, not both")
            from_date, to_date = quarter(period)
        return await build_response_rates(
            db,
            request.user,
            from_date=from_date,
            to_date=to_date,
            as_of=as_of,
            group_by=group_by,
            counselor_id=counselor_id,
            cohort=cohort,
            as_of_position=as_of_position,
        )
