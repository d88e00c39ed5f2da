"""The programme overview for staff and admins: the JSON API's own reports, drawn and tabled."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template

from infra.db import TenantConnection
from services.api.limits import report_quota
from services.api.pages.site import page
from services.api.participant_routes import build_funnel
from services.api.problems import InvalidRequest
from services.api.reading_routes import ReportQuery, build_response_rates, programme_settings, today_in
from services.api.report_routes import build_outcome_report
from services.api.security import Principal, roles

FUNNEL_STEPS = (
    ("enrolled", "Enrolled"),
    ("outreach", "Reached out"),
    ("response", "Had a response"),
    ("meeting", "Met someone"),
    ("referral", "Was referred"),
    ("application", "Applied"),
    ("interview", "Interviewed"),
    ("hire", "Hired"),
)
"""The programme funnel's steps (``GET /v1/dashboards/funnel``), in order."""

DateQuery = Annotated[dt.date | None, QueryParameter(description="a date, YYYY-MM-DD")]


def outcome_funnel(figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """From enrolment to hire to retention to a next job, over the period's enrolments (the report's own cells)."""
    return [
        ("Enrolled in the period", figures["enrolled"]),
        ("Placed in a job", figures["placed"]),
        ("Kept it 30 days", figures["retention_30"]["retained"]),
        ("Kept it 90 days", figures["retention_90"]["retained"]),
        ("Kept it 180 days", figures["retention_180"]["retained"]),
        ("Moved on to a second job or a promotion", figures["second_job_or_promotion"]),
    ]


class OverviewController(Controller):
    """``/app/overview``."""

    include_in_schema = False

    @get("/overview", opt={**roles("admin", "staff"), **report_quota()})
    async def overview(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        from_date: Annotated[dt.date | None, QueryParameter(name="from")] = None,
        to_date: Annotated[dt.date | None, QueryParameter(name="to")] = None,
        as_of: DateQuery = None,
    ) -> Template:
        principal = request.user
        programme = await programme_settings(db, principal.programme_id)
        as_of = as_of or today_in(programme.time_zone)
        to_date = to_date or as_of
        from_date = from_date or dt.date(to_date.year, 1, 1)
        if from_date > to_date:
            raise InvalidRequest("from", "the period's first day is after its last day")
        report = await build_outcome_report(
            db, principal, ReportQuery(from_date=from_date, to_date=to_date, as_of=as_of)
        )
        # Every panel at the report's position: one consistent picture even while events arrive.
        rates = {
            group: msgspec.to_builtins(
                await build_response_rates(
                    db,
                    principal,
                    ReportQuery(
                        from_date=from_date, to_date=to_date, as_of=as_of, as_of_position=report.global_position
                    ),
                    group,
                )
            )
            for group in ("channel", "week")
        }
        funnel = await build_funnel(db, principal, as_of=as_of, cohort=None, counselor_id=None)
        figures = msgspec.to_builtins(report.figures)
        return page(
            request,
            "overview.html",
            title="Programme overview",
            from_date=from_date,
            to_date=to_date,
            as_of=as_of,
            report=msgspec.to_builtins(report),
            figures=figures,
            rates=rates,
            funnel=msgspec.to_builtins(funnel),
            funnel_steps=FUNNEL_STEPS,
            outcome_funnel=outcome_funnel(figures),
        )
