"""The programme outcome report: staff in full, funders suppressed, reproducible by position."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlencode

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath, FromQuery

from infra.db import TenantConnection, tenant_connection
from infra.export_jobs import RenderSlot, RenderSlots, request_export, wait_for_export
from infra.queue import Waker
from infra.settings import Settings
from projections.kept_reports import KeptReport, kept_body, list_kept
from projections.outcome_reports import OutcomeReportBody, answer_outcomes
from services.api.limits import report_quota
from services.api.problems import NotFound, problem_responses
from services.api.reading_routes import (
    ReportQuery,
    refuse_chosen_parameters,
    released_for,
    report_query,
    report_scope,
)
from services.api.security import Principal, roles
from services.exports import render


async def build_outcome_report(pool: TenantConnection, principal: Principal, query: ReportQuery) -> OutcomeReportBody:
    """The report for this caller (suppressed for a funder), with its position and hash."""
    scope = await report_scope(pool, principal, query, default_from=lambda to: dt.date(to.year, 1, 1))
    return await answer_outcomes(
        pool,
        scope.params,
        programme_id=principal.programme_id,
        audience="funder" if principal.role == "funder" else "staff",
        suppress_below=scope.programme.suppress_below,
        global_position=scope.position,
    )


async def released_outcome_report(
    db: TenantConnection, principal: Principal, period: str | None
) -> tuple[str, OutcomeReportBody]:
    """The outcome report released to funders for ``period`` (the latest when None), and its period."""
    release = await released_for(db, principal.programme_id, period)
    return release.period, msgspec.convert(release.outcomes, OutcomeReportBody)


class ExportPending(msgspec.Struct, frozen=True, kw_only=True):
    """An export the worker is still rendering: ask again at ``Location`` after ``Retry-After`` seconds."""

    status: Literal["rendering"]
    format: str
    hash: str


ExportFormat = Literal["json", "csv", "xlsx", "pdf"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX, "pdf": "application/pdf"}
RENDERED_HERE = frozenset({"csv", "xlsx"})
"""Formats rendered in the API process, in one of its render slots; the PDF takes long, and the worker renders it."""
_BY_MEDIA_TYPE = {"text/csv": "csv", XLSX: "xlsx", "application/pdf": "pdf", "application/json": "json"}
# The same report in every format; the OpenAPI document shows the JSON and names the others.
REPORT_RESPONSES = {
    200: ResponseSpec(
        data_container=OutcomeReportBody,
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


@asynccontextmanager
async def reading(
    request: Request[Principal, Any, Any], pool: asyncpg.Pool, render_slots: RenderSlots, wanted: str
) -> AsyncIterator[tuple[TenantConnection, RenderSlot | None]]:
    """The request's connection, and for a format this process renders (CSV, XLSX) a render slot taken first.

    The slot is taken before the connection: an export waiting for a slot holds
    none, so exports queued behind a few renders cannot take the whole pool from
    every other request. No slot within ``render_slots.wait``: ``RendersBusy`` (503).
    """
    programme_id = request.user.programme_id
    if wanted not in RENDERED_HERE:
        async with tenant_connection(pool, programme_id) as db:
            yield db, None
        return
    async with render_slots.taken() as slot, tenant_connection(pool, programme_id) as db:
        yield db, slot


async def answer_report(
    db: TenantConnection,
    request: Request[Principal, Any, Any],
    report: OutcomeReportBody,
    wanted: str,
    *,
    slot: RenderSlot | None,
    settings: Settings,
    waker: Waker,
    again: dict[str, str] | None = None,
) -> Response[Any]:
    """The report as JSON, or rendered in the format asked for.

    CSV and XLSX render in a thread of this process (a few hundred milliseconds on
    a big programme), in the render ``slot`` the request took (``_reading``); the
    PDF, about a second of CPU, is rendered by the worker (infra/export_jobs.py)
    and served once stored, or answered 202 while it renders.
    ``again`` pins the query of the URL to ask again at, so it names this very report.
    """
    if wanted == "json":
        return Response(report)
    media_type = MEDIA_TYPES[wanted]
    filename = f"peoplelinks-outcomes-{report.from_date}-{report.to_date}-as-of-{report.as_of}.{wanted}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "X-Report-Hash": report.hash}
    body = msgspec.to_builtins(report)
    programme_id = request.user.programme_id
    if wanted in RENDERED_HERE:
        content = await render(db, programme_id, body, wanted, slot=slot)
        return Response(content, media_type=media_type, headers=headers)
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
        dependencies={"asked": Provide(report_query)},
        opt={**roles("admin", "staff", "funder"), **report_quota()},
        operation_id="outcomeReport",
        operation_class=ReportOperation,
        responses={**REPORT_RESPONSES, **problem_responses(400, 401, 403, 409, 422, 429, 503)},
        summary="Programme outcome report (suppressed for funders, reproducible by as_of_position)",
    )
    async def outcomes(
        self,
        request: Request[Principal, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[Settings],
        waker: NamedDependency[Waker],
        render_slots: NamedDependency[RenderSlots],
        asked: NamedDependency[ReportQuery],
        format: FromQuery[ExportFormat | None] = None,
    ) -> Response[Any]:
        wanted = _wanted(format, request.headers.get("accept"))
        funder = request.user.role == "funder"
        if funder:
            refuse_chosen_parameters(asked.chosen())
        async with reading(request, pool, render_slots, wanted) as (db, slot):
            if funder:
                period, report = await released_outcome_report(db, request.user, asked.period)
                again = {"period": period}
            else:
                report = await build_outcome_report(db, request.user, asked)
                again = {
                    "from": report.from_date.isoformat(),
                    "to": report.to_date.isoformat(),
                    "as_of": report.as_of.isoformat(),
                    "as_of_position": str(report.global_position),
                }
            return await answer_report(
                db, request, report, wanted, slot=slot, settings=settings, waker=waker, again=again
            )

    @get(
        "/v1/reports/monthly",
        opt={**roles("admin", "staff"), **report_quota()},
        operation_id="keptMonthlyReports",
        responses=problem_responses(401, 403, 429),
        summary="The monthly outcome reports kept by the worker",
    )
    async def monthly(
        self, request: Request[Principal, Any, Any], db: NamedDependency[TenantConnection]
    ) -> KeptReportsOut:
        return KeptReportsOut(reports=await list_kept(db, request.user.programme_id, _audience(request.user)))

    @get(
        "/v1/reports/monthly/{as_of:date}",
        opt={**roles("admin", "staff"), **report_quota()},
        operation_id="keptMonthlyReport",
        operation_class=ReportOperation,
        responses={**REPORT_RESPONSES, **problem_responses(400, 401, 403, 404, 422, 429, 503)},
        summary="One kept monthly report, exactly as built (figures, position, hash)",
    )
    async def monthly_one(
        self,
        as_of: FromPath[dt.date],
        request: Request[Principal, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[Settings],
        waker: NamedDependency[Waker],
        render_slots: NamedDependency[RenderSlots],
        format: FromQuery[ExportFormat | None] = None,
    ) -> Response[Any]:
        wanted = _wanted(format, request.headers.get("accept"))
        async with reading(request, pool, render_slots, wanted) as (db, slot):
            body = await kept_body(db, request.user.programme_id, as_of, _audience(request.user))
            if body is None:
                raise NotFound()
            report = msgspec.convert(body, OutcomeReportBody)
            return await answer_report(db, request, report, wanted, slot=slot, settings=settings, waker=waker)
