"""The programme outcome report: staff in full, funders suppressed, reproducible by position."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from domain.reporting.outcomes import outcome_report
from domain.reporting.scope import ReportParams
from domain.reporting.suppression import outcome_cells, suppress_for_funder
from projections.report_facts import FactsCache
from services.api.problems import InvalidRequest
from services.api.reading_routes import programme_settings, report_position, today_in
from services.api.security import Principal, roles

_CANONICAL = msgspec.json.Encoder(order="sorted")


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


def content_hash(body: dict[str, Any]) -> str:
    """sha256 over the canonical JSON (sorted keys) of everything the answer says but the hash itself."""
    return "sha256:" + hashlib.sha256(_CANONICAL.encode({k: v for k, v in body.items() if k != "hash"})).hexdigest()


async def build_outcome_report(
    pool: asyncpg.Pool, facts_cache: FactsCache, principal: Principal, *, from_date: dt.date | None,
    to_date: dt.date | None, as_of: dt.date | None, cohort: str | None, counselor_id: uuid.UUID | None,
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
        from_date=from_date, to_date=to_date, as_of=as_of, time_zone=programme.time_zone,
        as_of_position=position, cohort=cohort, counselor_id=counselor_id,
    )
    report = outcome_report(facts, params)
    cells = suppress_for_funder(report, programme.suppress_below) if funder else outcome_cells(report)
    body: dict[str, Any] = {
        "programme_id": str(principal.programme_id),
        "from": from_date.isoformat(),
        "to": to_date.isoformat(),
        "as_of": as_of.isoformat(),
        "global_position": position,
        "audience": "funder" if funder else "staff",
        "cohort": cohort,
        "counselor_id": None if counselor_id is None else str(counselor_id),
        "figures": msgspec.to_builtins(cells.figures),
        "breakdowns": msgspec.to_builtins(cells.breakdowns),
    }
    return OutcomeReportOut(
        programme_id=principal.programme_id, from_date=from_date, to_date=to_date, as_of=as_of,
        global_position=position, hash=content_hash(body), audience=body["audience"], cohort=cohort,
        counselor_id=counselor_id, figures=body["figures"], breakdowns=body["breakdowns"],
    )


class ReportController(Controller):
    """``/v1/reports/outcomes``."""

    tags = ("reports",)

    @get("/v1/reports/outcomes", opt=roles("admin", "staff", "funder"), operation_id="outcomeReport",
         summary="Programme outcome report (suppressed for funders, reproducible by as_of_position)")
    async def outcomes(
        self,
        request: Request[Principal, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        facts_cache: NamedDependency[FactsCache],
        from_date: Annotated[dt.date | None, QueryParameter(name="from", description="first enrolment day")] = None,
        to_date: Annotated[dt.date | None, QueryParameter(name="to", description="last enrolment day")] = None,
        as_of: Annotated[dt.date | None, QueryParameter(description="the day the report looks from")] = None,
        cohort: FromQuery[str | None] = None,
        counselor_id: FromQuery[uuid.UUID | None] = None,
        as_of_position: FromQuery[int | None] = None,
    ) -> OutcomeReportOut:
        return await build_outcome_report(
            pool, facts_cache, request.user, from_date=from_date, to_date=to_date, as_of=as_of, cohort=cohort,
            counselor_id=counselor_id, as_of_position=as_of_position,
        )
