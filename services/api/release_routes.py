"""Releasing a quarter's reports to funders (admin), and listing what was released."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, get_args

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from domain.reporting.response_rates import GroupBy
from infra.db import TenantConnection
from projections.releases import Release, keep_release, list_releases, quarter
from services.api.limits import report_quota
from services.api.problems import InvalidRequest, problem_responses
from services.api.reading_routes import ReportQuery, build_response_rates, programme_settings, report_position, today_in
from services.api.report_routes import build_outcome_report
from services.api.security import Principal, roles

FUNDER_GROUPS: tuple[GroupBy | None, ...] = (None, *(g for g in get_args(GroupBy) if g != "counselor"))
"""The dashboards a release keeps: the overall figures and every grouping a funder may see."""


class ReleaseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A quarter to release to funders, looking from ``as_of`` (default today; after the quarter's end)."""

    period: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-Q[1-4]$", description="a calendar quarter, YYYY-Qn")]
    as_of: dt.date | None = None


class ReleasesOut(msgspec.Struct, frozen=True):
    """The quarters released to funders, newest first."""

    releases: list[Release]


class ReleaseController(Controller):
    """``/v1/reports/releases``."""

    tags = ("reports",)

    @post(
        "/v1/reports/releases",
        opt={**roles("admin"), **report_quota()},
        operation_id="releaseQuarter",
        responses=problem_responses(400, 401, 403, 409, 422, 429),
        summary="Release a quarter's outcome report and response-rate dashboards to funders (once)",
    )
    async def release(
        self,
        request: Request[Principal, Any, Any],
        data: JSONBody[ReleaseIn],
        db: NamedDependency[TenantConnection],
    ) -> Release:
        return await release_quarter(db, request.user, data.period, data.as_of)

    @get(
        "/v1/reports/releases",
        opt={**roles("admin", "staff", "funder"), **report_quota()},
        operation_id="releases",
        responses=problem_responses(401, 403, 429),
        summary="The quarters released to funders",
    )
    async def releases(
        self, request: Request[Principal, Any, Any], db: NamedDependency[TenantConnection]
    ) -> ReleasesOut:
        return ReleasesOut(releases=await list_releases(db, request.user.programme_id))


async def release_quarter(
    db: TenantConnection, principal: Principal, period: str, as_of_asked: dt.date | None
) -> Release:
    """Keep ``period``'s funder editions (outcome report, every funder dashboard) as released by ``principal``.

    ``POST /v1/reports/releases`` and the demo seeding (``services/demo_seeding.py``) both release through here.
    A quarter is released once: a second time is refused (409).
    """
    first, last = quarter(period)
    programme = await programme_settings(db, principal.programme_id)
    today = today_in(programme.time_zone)
    as_of = as_of_asked or today
    if as_of <= last:
        raise InvalidRequest("as_of", f"{period} ends on {last.isoformat()}: release it after that day")
    if as_of > today:
        raise InvalidRequest("as_of", "as_of is after today")
    position = (await report_position(db, None)).position
    # The funder editions, computed exactly as a funder asking for them would get them.
    funder = Principal(user_id=principal.user_id, programme_id=principal.programme_id, role="funder")
    query = ReportQuery(from_date=first, to_date=last, as_of=as_of, as_of_position=position)
    outcomes = await build_outcome_report(db, funder, query)
    dashboards: dict[str, Any] = {
        group or "": msgspec.to_builtins(await build_response_rates(db, funder, query, group))
        for group in FUNDER_GROUPS
    }
    kept = await keep_release(
        db,
        principal.programme_id,
        period,
        as_of=as_of,
        global_position=position,
        outcomes=msgspec.to_builtins(outcomes),
        dashboards=dashboards,
        released_by=principal.user_id,
    )
    if not kept:
        raise InvalidRequest("period", f"{period} was released already; a release is never made again", status=409)
    [release] = [r for r in await list_releases(db, principal.programme_id) if r.period == period]
    return release
