"""Read models: projection status and the response-rate dashboard."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from domain.reporting.response_rates import GroupBy
from domain.reporting.scope import ReportParams
from domain.reporting.suppression import RowCells, response_rate_cells, suppress_response_rates_for_funder
from infra.db import Connection, TenantConnection
from projections import positions, read_models
from projections.positions import ReportPosition
from projections.registry import PROJECTIONS
from projections.releases import Released, quarter, released
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
    overall: RowCells
    groups: dict[str, RowCells]


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


class ReportScope(msgspec.Struct, frozen=True):
    """What a report or dashboard is computed for: the programme's settings and the parameters at a pinned position."""

    programme: ProgrammeSettings
    params: ReportParams
    position: int


async def report_scope(
    db: TenantConnection, principal: Principal, query: ReportQuery, *, default_from: Callable[[dt.date], dt.date]
) -> ReportScope:
    """The one preamble of every report: defaults in the programme's zone, checks, and the pinned position (P, H).

    ``as_of`` defaults to today, ``to`` to ``as_of``, ``from`` to ``default_from(to)``.
    """
    query = query.dated()
    if principal.role == "funder" and query.counselor_id is not None:
        raise InvalidRequest("counselor_id", "funders see no per-counselor figures", status=403)
    programme = await programme_settings(db, principal.programme_id)
    as_of = query.as_of or today_in(programme.time_zone)
    to_date = query.to_date or as_of
    from_date = query.from_date or default_from(to_date)
    if from_date > to_date:
        raise InvalidRequest("from", "from is after to")
    at = await report_position(db, query.as_of_position)
    params = ReportParams(
        from_date=from_date,
        to_date=to_date,
        as_of=as_of,
        time_zone=programme.time_zone,
        as_of_position=at.position,
        as_of_horizon=at.horizon,
        cohort=query.cohort,
        counselor_id=query.counselor_id,
    )
    return ReportScope(programme, params, at.position)


async def build_response_rates(
    db: TenantConnection, principal: Principal, query: ReportQuery, group_by: GroupBy | None
) -> ResponseRatesOut:
    """The response-rate dashboard for this caller (suppressed for a funder), at its position."""
    funder = principal.role == "funder"
    if funder and group_by == "counselor":
        raise InvalidRequest("group_by", "funders see no per-counselor figures", status=403)
    scope = await report_scope(db, principal, query, default_from=lambda to: to.replace(day=1))
    params = scope.params
    rates = await response_rates_at(db, principal.programme_id, params, group_by)
    cells = (
        suppress_response_rates_for_funder(rates, scope.programme.suppress_below)
        if funder
        else response_rate_cells(rates)
    )
    return ResponseRatesOut(
        from_date=params.from_date,
        to_date=params.to_date,
        as_of=params.as_of,
        global_position=scope.position,
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


async def released_for(db: TenantConnection, programme_id: uuid.UUID, period: str | None) -> Released:
    """The release a funder asks for (the latest when ``period`` is None); 404 when there is none."""
    release = await released(db, programme_id, period)
    if release is None:
        raise InvalidRequest("period", "no report has been released to funders for this period", status=404)
    return release


async def released_dashboard(
    db: TenantConnection, principal: Principal, query: ReportQuery, group_by: GroupBy | None
) -> ResponseRatesOut:
    """The response-rate dashboard as released to funders for the query's period (the latest when None)."""
    refuse_chosen_parameters(query.chosen())
    if group_by == "counselor":
        raise InvalidRequest("group_by", "funders see no per-counselor figures", status=403)
    release = await released_for(db, principal.programme_id, query.period)
    return msgspec.convert(release.dashboards[group_by or ""], ResponseRatesOut)


PeriodQuery = Annotated[
    str | None,
    QueryParameter(
        description="a released quarter, YYYY-Qn (funders: the latest released when omitted)",
        pattern=r"^[0-9]{4}-Q[1-4]$",
    ),
]


DateQuery = Annotated[dt.date | None, QueryParameter(description="a date, YYYY-MM-DD")]


class ReportQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What a caller asks a report or a dashboard for (every field optional: defaults come from the programme)."""

    from_date: dt.date | None = None
    to_date: dt.date | None = None
    as_of: dt.date | None = None
    cohort: str | None = None
    counselor_id: uuid.UUID | None = None
    as_of_position: int | None = None
    period: str | None = None

    def chosen(self) -> dict[str, object]:
        """What a funder may not choose (they read released periods): each field by its query name."""
        return {
            "from": self.from_date,
            "to": self.to_date,
            "as_of": self.as_of,
            "cohort": self.cohort,
            "counselor_id": self.counselor_id,
            "as_of_position": self.as_of_position,
        }

    def dated(self) -> ReportQuery:
        """The query with a ``period`` turned into its ``from`` and ``to``."""
        if self.period is None:
            return self
        if self.from_date is not None or self.to_date is not None:
            raise InvalidRequest("period", "give a period or from and to, not both")
        first, last = quarter(self.period)
        return msgspec.structs.replace(self, from_date=first, to_date=last, period=None)


async def report_query(
    from_date: Annotated[
        dt.date | None, QueryParameter(name="from", description="first day (of enrolment, for outcomes), inclusive")
    ] = None,
    to_date: Annotated[dt.date | None, QueryParameter(name="to", description="last day, inclusive")] = None,
    as_of: Annotated[dt.date | None, QueryParameter(description="the day the answer looks from")] = None,
    cohort: FromQuery[str | None] = None,
    counselor_id: FromQuery[uuid.UUID | None] = None,
    as_of_position: FromQuery[int | None] = None,
    period: PeriodQuery = None,
) -> ReportQuery:
    """The query parameters every report and dashboard takes, as one value (a dependency of their routes)."""
    return ReportQuery(
        from_date=from_date,
        to_date=to_date,
        as_of=as_of,
        cohort=cohort,
        counselor_id=counselor_id,
        as_of_position=as_of_position,
        period=period,
    )


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
        dependencies={"asked": Provide(report_query)},
        opt={**roles("admin", "staff", "counselor", "funder"), **report_quota()},
        operation_id="responseRates",
        responses=problem_responses(400, 401, 403, 409, 422, 429),
        summary="Response rates: five out for one back",
    )
    async def response_rates(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        asked: NamedDependency[ReportQuery],
        group_by: FromQuery[GroupBy | None] = None,
    ) -> ResponseRatesOut:
        if request.user.role == "funder":
            return await released_dashboard(db, request.user, asked, group_by)
        return await build_response_rates(db, request.user, asked, group_by)
