"""The programme outcome report: staff in full, funders suppressed, reproducible by position."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath, FromQuery, QueryParameter

from domain.reporting.scope import ReportParams
from infra.db import TenantConnection
from infra.export_jobs import render, request_export, wait_for_export
from infra.queue import Waker
from infra.settings import Settings
from projections.kept_reports import KeptReport, kept_body, list_kept
from projections.outcome_reports import answer_outcomes
from projections.releases import quarter, released
from services.api.problems import InvalidRequest, NotFound, problem_responses
from services.api.reading_routes import (
    PeriodQuery,
    programme_settings,
    refuse_chosen_parameters,
    report_position,
    today_in,
)
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
    pool: TenantConnection,
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
    at = await report_position(pool, as_of_position)
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
    body = await answer_outcomes(
        pool,
        params,
        programme_id=principal.programme_id,
        audience="funder" if funder else "staff",
        suppress_below=programme.suppress_below,
        global_position=at.position,
    )
    return msgspec.convert(body, OutcomeReportOut)


async def released_outcome_report(
    db: TenantConnection, principal: Principal, period: str | None
) -> tuple[str, OutcomeReportOut]:
    """The outcome report released to funders for ``period`` (the latest when None), and its period."""
    release = await released(db, principal.programme_id, period)
    if release is None:
        raise InvalidRequest("period", "no report has been released to funders for this period", status=404)
    return release.period, msgspec.convert(release.outcomes, OutcomeReportOut)


class ExportPending(msgspec.Struct, frozen=True, kw_only=True):
    """An export the worker is still rendering: ask again at ``Location`` after ``Retry-After`` seconds."""

    status: Literal["rendering"]
    format: str
    hash: str


ExportFormat = Literal["json", "csv", "xlsx", "pdf"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX, "pdf": "application/pdf"}
WORKER_FORMATS = frozenset({"pdf"})
"""Formats rendered by the worker rather than in the API process (they take long)."""
_BY_MEDIA_TYPE = {"text/csv": "csv", XLSX: "xlsx", "application/pdf": "pdf", "application/json": "json"}
# The same report in every format; the OpenAPI document shows the JSON and names the others.
REPORT_RESPONSES = {
    200: ResponseSpec(
        data_container=OutcomeReportOut,
        description="The report: JSON by default; CSV, XLSX or PDF by `format=` or the Accept header",
    ),
    202: ResponseSpec(
        data_container=ExportPending,
        description="The PDF is being rendered by the worker: ask again at `Location` after `Retry-After` seconds",
    ),
}


class ReportOperation(Operation):
    """The report routes' OpenAPI entry: the 200 answer names the CSV, XLSX and PDF renderings beside the JSON."""

    def to_schema(self) -> dict[str, Any]:
        result = super().to_schema()
        content = result["responses"]["200"]["content"]
        for media_type in MEDIA_TYPES.values():
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


async def answer_report(
    db: TenantConnection,
    request: Request[Principal, Any, Any],
    report: OutcomeReportOut,
    format_: str | None,
    *,
    settings: Settings,
    waker: Waker,
    again: dict[str, str] | None = None,
) -> Response[Any]:
    """The report as JSON, or rendered in the format asked for.

    CSV and XLSX render in a thread of this process (a few hundred milliseconds on
    a big programme); the PDF, about a second of CPU, is rendered by the worker
    (infra/export_jobs.py) and served once stored, or answered 202 while it renders.
    ``again`` pins the query of the URL to ask again at, so it names this very report.
    """
    wanted = _wanted(format_, request.headers.get("accept"))
    if wanted == "json":
        return Response(report)
    media_type = MEDIA_TYPES[wanted]
    filename = f"peoplelinks-outcomes-{report.from_date}-{report.to_date}-as-of-{report.as_of}.{wanted}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Report-Hash": report.hash}
    body = msgspec.to_builtins(report)
    programme_id = request.user.programme_id
    if wanted not in WORKER_FORMATS:
        return Response(await render(db, programme_id, body, wanted), media_type=media_type, headers=headers)
    state = await request_export(db, programme_id, body, wanted)
    if not state.done:
        await waker.wake_exports()
        state = await wait_for_export(db, programme_id, report.hash, wanted, seconds=settings.export_wait_seconds)
    if state.failure is not None:
        raise HTTPException(status_code=500, detail=f"the {wanted.upper()} export of this report could not be rendered")
    if state.content is None:
        query = dict(request.query_params) | (again or {})
        return Response(
            ExportPending(status="rendering", format=wanted, hash=report.hash),
            status_code=202,
            headers={"Retry-After": "2", "Location": f"{request.url.path}?{urlencode(query)}"},
        )
    return Response(state.content, media_type=media_type, headers=headers)


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
        settings: NamedDependency[Settings],
        waker: NamedDependency[Waker],
        from_date: Annotated[dt.date | None, QueryParameter(name="from", description="first enrolment day")] = None,
        to_date: Annotated[dt.date | None, QueryParameter(name="to", description="last enrolment day")] = None,
        as_of: Annotated[dt.date | None, QueryParameter(description="the day the report looks from")] = None,
        cohort: FromQuery[str | None] = None,
        counselor_id: FromQuery[uuid.UUID | None] = None,
        as_of_position: FromQuery[int | None] = None,
        format: FromQuery[ExportFormat | None] = None,
        period: PeriodQuery = None,
    ) -> Response[Any]:
        if request.user.role == "funder":
            refuse_chosen_parameters(
                {
                    "from": from_date,
                    "to": to_date,
                    "as_of": as_of,
                    "cohort": cohort,
                    "counselor_id": counselor_id,
                    "as_of_position": as_of_position,
                }
            )
            period, report = await released_outcome_report(db, request.user, period)
            return await answer_report(
                db, request, report, format, settings=settings, waker=waker, again={"period": period}
            )
        if period is not None:
            if from_date is not None or to_date is not None:
                raise InvalidRequest("period", "give a period or from and to, not both")
            from_date, to_date = quarter(period)
        report = await build_outcome_report(
            db,
            request.user,
            from_date=from_date,
            to_date=to_date,
            as_of=as_of,
            cohort=cohort,
            counselor_id=counselor_id,
            as_of_position=as_of_position,
        )
        again = {
            "from": report.from_date.isoformat(),
            "to": report.to_date.isoformat(),
            "as_of": report.as_of.isoformat(),
            "as_of_position": str(report.global_position),
        }
        return await answer_report(db, request, report, format, settings=settings, waker=waker, again=again)

    @get(
        "/v1/reports/monthly",
        opt=roles("admin", "staff"),
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
        opt=roles("admin", "staff"),
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
        settings: NamedDependency[Settings],
        waker: NamedDependency[Waker],
        format: FromQuery[ExportFormat | None] = None,
    ) -> Response[Any]:
        body = await kept_body(db, request.user.programme_id, as_of, _audience(request.user))
        if body is None:
            raise NotFound()
        report = msgspec.convert(body, OutcomeReportOut)
        return await answer_report(db, request, report, format, settings=settings, waker=waker)
