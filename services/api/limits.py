"""What one caller may spend: the report quota, taken by a guard on every route that marks itself with it."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from infra.db import tenant_connection
from infra.report_quota import ReportQuota, take_report_token
from services.api.security import AsyncGuard, Principal

# Route option: each request takes a token of the caller's report quota.
REPORT_QUOTA = "report_quota"


def report_quota() -> dict[str, Any]:
    """Route options for a report, dashboard or export route: ``@get(..., opt={**roles(...), **report_quota()})``."""
    return {REPORT_QUOTA: True}


def report_quota_guard(quota: ReportQuota) -> AsyncGuard:
    """A guard, after the role guard, taking a token of the caller's quota on the routes marked with it.

    A guard rather than a step of the handler, so that no marked route can forget
    it, and before the request's parameters are read, so that malformed requests
    cost a token too. Refused: ``QuotaExceeded``, answered 429 (services/api/problems.py).
    """

    async def take_token(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if not handler.opt.get(REPORT_QUOTA) or not quota.enabled:
            return
        user = connection.scope.get("user")
        if not isinstance(user, Principal):
            raise NotAuthorizedException("authentication required")
        async with tenant_connection(connection.app.state.pool, user.programme_id) as conn:
            await take_report_token(conn, user.programme_id, user.user_id, quota)

    return take_token
