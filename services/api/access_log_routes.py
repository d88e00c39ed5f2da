"""``GET /v1/access-log``: who read which participant's record, for the programme's admins."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from infra.access_log import AccessEntry, AccessQuery, read_access_log
from infra.db import TenantConnection
from services.api.problems import InvalidRequest, problem_responses
from services.api.security import Principal, roles

MAX_LIMIT = 1000


class AccessLogOut(msgspec.Struct, frozen=True, kw_only=True):
    """Entries newest first; ``next_before`` is the ``before`` of the next page (null on the last)."""

    entries: list[AccessEntry]
    next_before: int | None


def _moment(raw: str | None, field: str, zone: dt.tzinfo, *, end: bool) -> dt.datetime | None:
    """A date (the whole day, in the programme's time zone) or an RFC 3339 time with offset."""
    if raw is None:
        return None
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            start = dt.datetime.combine(day, dt.time(), zone)
            return start + dt.timedelta(days=1) if end else start
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(field, f"{field} must be a date (YYYY-MM-DD) or a time with offset") from None
    if moment.tzinfo is None:
        raise InvalidRequest(field, f"{field} needs an offset, e.g. 2026-03-01T09:00:00Z")
    # Upper bounds are inclusive; the query's is exclusive.
    return moment + dt.timedelta(microseconds=1) if end else moment


class AccessLogController(Controller):
    """``/v1/access-log``."""

    tags = ("accounts",)

    @get(
        "/v1/access-log",
        opt=roles("admin"),
        operation_id="accessLog",
        responses=problem_responses(400, 401, 403, 422),
        summary="Reads of participants' records: who, when, which participant, through which route",
    )
    async def access_log(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        participant_id: FromQuery[uuid.UUID | None] = None,
        user_id: FromQuery[uuid.UUID | None] = None,
        from_: Annotated[
            str | None, QueryParameter(name="from", description="a date or an RFC 3339 time, inclusive")
        ] = None,
        to: Annotated[str | None, QueryParameter(description="a date or an RFC 3339 time, inclusive")] = None,
        before: Annotated[int | None, QueryParameter(description="entries before this position (paging)")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="at most this many entries")] = 100,
    ) -> AccessLogOut:
        principal = request.user
        zone_name = await db.fetchval(
            "SELECT time_zone FROM programmes WHERE programme_id = $1", principal.programme_id
        )
        zone = zoneinfo.ZoneInfo(zone_name or "UTC")
        query = AccessQuery(
            participant_id=participant_id,
            user_id=user_id,
            since=_moment(from_, "from", zone, end=False),
            until=_moment(to, "to", zone, end=True),
            before_position=before,
            limit=limit,
        )
        if query.since is not None and query.until is not None and query.since >= query.until:
            raise InvalidRequest("from", "from is after to")
        entries = await read_access_log(db, principal.programme_id, query)
        return AccessLogOut(entries=entries, next_before=entries[-1].position if len(entries) == limit else None)
