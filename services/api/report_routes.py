"""The programme outcome report: staff in full, funders suppressed, reproducible by position."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from domain.reporting.scope import ReportParams
from infra.db import Connection, TenantConnection
from projections.kept_reports import KeptReport, kept_body, list_kept
from projections.outcome_reports import outcome_body
from projections.report_facts import FactsCache
from services.api.problems import InvalidRequest, NotFound
from services.api.reading_routes import programme_settings, report_position, today_in
from services.api.security import Principal, roles


class OutcomeReportOut(msgspec.Struct, frozen=True, kw_only=True, rename={"from_date": "from", "to_date": "to"}):
    """The outcome report (reports.md, Programme outcome report; api.md, The shape of a report)."""

    programme_id: uuid.UUID
    from_date: dt.date
    to_date: dt.date
    as_of: dt.date
    global_position: int
    hash: str
    audience: str
    cohort: str | None
    counselor_id: uuid.UUID | None
    figures: dict[str, Any]
    breakdowns: dict[str, Any]


async def build_outcome_report(
    pool: Connection,
    facts_cache: FactsCache,
    principal: Principal,
    *,
    from_date: dt.date | None,
    to_date: dt.date | None,
    as_of: dt.date | None,
    cohort: str | None,
    counselor_id: uuid.UUID | None,
    as_of_position: int | None,
) -> OutcomeReportOut:
    """The report for this caller (suppressed for a funder), with its position and hash."""
    funder = principal.role == "funder"
    if funder and counselor_id is not None:
        raise InvalidRequest("counselor_id", "funders see no per-counselor figures", status=403)
    programme = await programme_settings(pool, principal.programme_id)
    as_of = as_of or today_in(programme.time_zone)
    to_date = to_date or as_of
    from_date = from_date or dt.date(to_date.year, 1, 1)
    if from_date > to_date:
        raise InvalidRequest("from", "from is after to")
    position = await report_position(pool, as_of_position)
    facts = await facts_cache.facts(pool, principal.programme_id)
    params = ReportParams(
        from_date=from_date,
        to_date=to_date,
        as_of=as_of,
        time_zone=programme.time_zone,
        as_of_position=position,
        cohort=cohort,
        counselor_id=counselor_id,
    )
    body = outcome_body(
        facts,
        params,
        programme_id=principal.programme_id,
        audience="funder" if funder else "staff",
        suppress_below=programme.suppress_below,
        global_position=position,
    )
    return msgspec.convert(body, OutcomeReportOut)


class KeptReportsOut(msgspec.Struct, frozen=True):
    """The programme's kept monthly reports (for the caller's audience)."""

    reports: list[KeptReport]


def _audience(principal: Principal) -> str:
    return "funder" if principal.role == "funder" else "staff"


class ReportController(Controller):
    """``/v1/reports/outcomes``."""

    tags = ("reports",)

    @get(
        "/v1/reports/outcomes",
        opt=roles("admin", "staff", "funder"),
        operation_id="outcomeReport",
        summary="Programme outcome report (suppressed for funders, reproducible by as_of_position)",
    )
    async def outcomes(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        facts_cache: NamedDependency[FactsCache],
        from_date: Annotated[dt.date | None, QueryParameter(name="from", description="first enrolment day")] = None,
        to_date: Annotated[dt.date | None, QueryParameter(name="to", description="last enrolment day")] = None,
        as_of: Annotated[dt.date | None, QueryParameter(description="the day the report looks from")] = None,
        cohort: FromQuery[str | None] = None,
        counselor_id: FromQuery[uuid.UUID | None] = None,
        as_of_position: FromQuery[int | None] = None,
    ) -> OutcomeReportOut:
        return await build_outcome_report(
            db,
            facts_cache,
            request.user,
            from_date=from_date,
            to_date=to_date,
            as_of=as_of,
            cohort=cohort,
            counselor_id=counselor_id,
            as_of_position=as_of_position,
        )

    @get(
        "/v1/reports/monthly",
        opt=roles("admin", "staff", "funder"),
        operation_id="keptMonthlyReports",
        summary="The monthly outcome reports kept by the worker",
    )
    async def monthly(
        self, request: Request[Principal, Any, Any], db: NamedDependency[TenantConnection]
    ) -> KeptReportsOut:
        return KeptReportsOut(reports=await list_kept(db, request.user.programme_id, _audience(request.user)))

    @get(
        "/v1/reports/monthly/{as_of:date}",
        opt=roles("admin", "staff", "funder"),
        operation_id="keptMonthlyReport",
        summary="One kept monthly report, exactly as built (figures, position, hash)",
    )
    async def monthly_one(
        self, as_of: FromPath[dt.date], request: Request[Principal, Any, Any], db: NamedDependency[TenantConnection]
    ) -> OutcomeReportOut:
        body = await kept_body(db, request.user.programme_id, as_of, _audience(request.user))
        if body is None:
            raise NotFound()
        return msgspec.convert(body, OutcomeReportOut)
