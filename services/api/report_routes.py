"""The programme outcome report: staff in full, funders suppressed, reproducible by position."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath, FromQuery, QueryParameter

from domain.reporting.scope import ReportParams
from infra.db import Connection, TenantConnection
from infra.exports import report_csv, report_pdf, report_xlsx
from projections.kept_reports import KeptReport, kept_body, list_kept
from projections.outcome_reports import outcome_body
from projections.report_facts import FactsCache
from services.api.problems import InvalidRequest, NotFound, problem_responses
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


ExportFormat = Literal["json", "csv", "xlsx", "pdf"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_EXPORTS: dict[str, tuple[str, Callable[..., bytes]]] = {
    "csv": ("text/csv; charset=utf-8", report_csv),
    "xlsx": (XLSX, report_xlsx),
    "pdf": ("application/pdf", report_pdf),
}
_BY_MEDIA_TYPE = {"text/csv": "csv", XLSX: "xlsx", "application/pdf": "pdf", "application/json": "json"}
# The same report in every format; the OpenAPI document shows the JSON and names the others.
REPORT_RESPONSES = {
    200: ResponseSpec(
        data_container=OutcomeReportOut,
        description="The report: JSON by default; CSV, XLSX or PDF by `format=` or the Accept header",
    )
}


class ReportOperation(Operation):
    """The report routes' OpenAPI entry: the 200 answer names the CSV, XLSX and PDF renderings beside the JSON."""

    def to_schema(self) -> dict[str, Any]:
        result = super().to_schema()
        content = result["responses"]["200"]["content"]
        for media_type, _ in _EXPORTS.values():
            content[media_type.split(";")[0]] = {"schema": {"type": "string", "format": "binary"}}
        return result


def _wanted(format_: str | None, accept: str | None) -> str:
    if format_ is not None:
        return format_
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in _BY_MEDIA_TYPE:
            return _BY_MEDIA_TYPE[media]
    return "json"


async def _answer(
    db: TenantConnection, request: Request[Principal, Any, Any], report: OutcomeReportOut, format_: str | None
) -> Response[Any]:
    """The report as JSON, or rendered (off the event loop) in the format asked for."""
    wanted = _wanted(format_, request.headers.get("accept"))
    if wanted == "json":
        return Response(report)
    media_type, render = _EXPORTS[wanted]
    programme = await db.fetchrow(
        "SELECT name, suppress_below FROM programmes WHERE programme_id = $1", request.user.programme_id
    )
    assert programme is not None
    body = msgspec.to_builtins(report)
    content = await asyncio.to_thread(render, body, programme["name"], suppress_below=programme["suppress_below"])
    filename = f"peoplelinks-outcomes-{report.from_date}-{report.to_date}-as-of-{report.as_of}.{wanted}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Report-Hash": report.hash},
    )


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
        operation_class=ReportOperation,
        responses={**REPORT_RESPONSES, **problem_responses(400, 401, 403, 409, 422)},
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
        format: FromQuery[ExportFormat | None] = None,
    ) -> Response[Any]:
        report = await build_outcome_report(
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
        return await _answer(db, request, report, format)

    @get(
        "/v1/reports/monthly",
        opt=roles("admin", "staff", "funder"),
        operation_id="keptMonthlyReports",
        responses=problem_responses(401, 403),
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
        operation_class=ReportOperation,
        responses={**REPORT_RESPONSES, **problem_responses(400, 401, 403, 404, 422)},
        summary="One kept monthly report, exactly as built (figures, position, hash)",
    )
    async def monthly_one(
        self,
        as_of: FromPath[dt.date],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        format: FromQuery[ExportFormat | None] = None,
    ) -> Response[Any]:
        body = await kept_body(db, request.user.programme_id, as_of, _audience(request.user))
        if body is None:
            raise NotFound()
        return await _answer(db, request, msgspec.convert(body, OutcomeReportOut), format)
