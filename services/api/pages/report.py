"""The funder report: the quarter released to funders, with charts and its downloads (CSV, XLSX, PDF).

Everyone who opens it (funders, and staff checking what funders see) reads the
released edition, exactly as ``GET /v1/reports/outcomes?period=`` answers a
funder: suppressed, with no name, no id but the programme's, no counselor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template

from infra.db import TenantConnection
from infra.export_jobs import RenderSlots
from infra.queue import Waker
from infra.settings import Settings
from projections.releases import list_releases
from services.api.limits import report_quota
from services.api.pages.site import page
from services.api.reading_routes import PeriodQuery, ReportQuery, programme_settings, released_dashboard
from services.api.report_routes import answer_report, reading, released_outcome_report
from services.api.security import Principal, roles

READERS = ("admin", "staff", "funder")
DOWNLOADS = (("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("pdf", "PDF"))


class ReportPageController(Controller):
    """``/app/report`` and ``/app/report/download``."""

    include_in_schema = False

    @get("/report", opt={**roles(*READERS), **report_quota()})
    async def report(
        self, request: Request[Principal, Any, Any], db: NamedDependency[TenantConnection], period: PeriodQuery = None
    ) -> Template:
        principal = request.user
        releases = await list_releases(db, principal.programme_id)
        if not releases:
            return page(request, "report.html", title="Funder report", releases=[], report=None)
        period, report = await released_outcome_report(db, principal, period)
        rates = {
            group: msgspec.to_builtins(await released_dashboard(db, principal, ReportQuery(period=period), group))
            for group in ("channel", "week")
        }
        programme = await programme_settings(db, principal.programme_id)
        return page(
            request,
            "report.html",
            title=f"Funder report {period}",
            releases=releases,
            period=period,
            report=msgspec.to_builtins(report),
            rates=rates,
            suppress_below=programme.suppress_below,
            downloads=DOWNLOADS,
        )

    @get("/report/download", opt={**roles(*READERS), **report_quota()})
    async def download(
        self,
        request: Request[Principal, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[Settings],
        waker: NamedDependency[Waker],
        render_slots: NamedDependency[RenderSlots],
        format: Annotated[Literal["csv", "xlsx", "pdf"], QueryParameter()],
        period: PeriodQuery = None,
    ) -> Response[Any]:
        async with reading(request, pool, render_slots, format) as (db, slot):
            period, report = await released_outcome_report(db, request.user, period)
            answer = await answer_report(
                db, request, report, format, slot=slot, settings=settings, waker=waker, again={}
            )
        if answer.status_code == 202:
            # The worker is still rendering the PDF: a page that asks again by itself.
            return page(request, "preparing.html", title="Preparing the download", status=202, period=period)
        return answer
