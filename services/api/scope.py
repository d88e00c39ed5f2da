"""What a counselor may reach: only the participants assigned to them (api.md, roles)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from infra.assignments import assigned_counselors
from infra.db import Connection, tenant_connection
from services.api.problems import NotFound
from services.api.security import Principal

# Route option naming the path parameter that holds a participant id.
PARTICIPANT_PARAM = "participant_param"


def participant_scoped(path_param: str = "record_id") -> dict[str, Any]:
    """Route options: a counselor reaches this participant only when assigned to them."""
    return {PARTICIPANT_PARAM: path_param}


async def check_assigned(
    conn: Connection, principal: Principal, participant_ids: Iterable[uuid.UUID], *, allow_new: bool = False
) -> None:
    """Refuse (403) a counselor naming a participant assigned to someone else.

    Other roles pass. A participant who does not exist in the counselor's
    programme (another programme's included) is not found (404), as for every
    role, unless ``allow_new`` lets them name one (an enrolment they are recording).
    """
    if principal.role != "counselor":
        return
    wanted = list(dict.fromkeys(participant_ids))
    assigned = await assigned_counselors(conn, principal.programme_id, wanted)
    for participant_id in wanted:
        counselor = assigned.get(participant_id)
        if counselor is None:
            if allow_new:
                continue
            raise NotFound()
        if counselor != principal.user_id:
            raise PermissionDeniedException("this participant is not assigned to you")


async def participant_scope_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """For routes marked ``participant_scoped``: a counselor passes only for their own participants."""
    param = handler.opt.get(PARTICIPANT_PARAM)
    user = connection.scope.get("user")
    if param is None or not isinstance(user, Principal) or user.role != "counselor":
        return
    raw = connection.path_params[param]
    participant_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    async with tenant_connection(connection.app.state.pool, user.programme_id) as conn:
        await check_assigned(conn, user, [participant_id], allow_new=connection.scope.get("method") == "POST")
