"""Erasing a person's identity: ``POST /v1/participants/{id}/erase`` and ``POST /v1/contacts/{id}/erase`` (admins)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, Final

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from domain.privacy import SubjectKind
from domain.streams import stream_id_of
from infra.crypto import Subject
from infra.db import TenantConnection
from infra.erasures import Erasure, ErasureLedger, erase, erasure_of
from infra.settings import Settings
from services.api.problems import NotFound, problem_responses
from services.api.security import Principal, roles

ERASE_PROBLEMS = problem_responses(400, 401, 403, 404)


class ErasureOut(msgspec.Struct, frozen=True, kw_only=True):
    """Whose identity was erased, when and by which admin (the first erasure, when asked again)."""

    kind: SubjectKind
    subject_id: uuid.UUID
    erased_at: dt.datetime
    erased_by: uuid.UUID | None


async def _erase(
    kind: SubjectKind, record_id: uuid.UUID, principal: Principal, db: TenantConnection, settings: Settings
) -> ErasureOut:
    subject = Subject(kind, record_id)
    # A record whose creation was voided is erased all the same: its events still hold the name.
    if not await db.fetchval(
        "SELECT true FROM streams WHERE programme_id = $1 AND stream_id = $2",
        principal.programme_id,
        stream_id_of(kind, record_id),
    ):
        raise NotFound()
    done = await erasure_of(db, principal.programme_id, subject)
    if done is None:
        erasure = Erasure(
            programme_id=principal.programme_id,
            kind=kind,
            subject_id=record_id,
            erased_at=dt.datetime.now(dt.UTC),
            erased_by=principal.user_id,
        )
        # The ledger first: an erasure must survive the restore of a backup taken before it.
        await ErasureLedger(Path(settings.erasure_ledger)).append(erasure)
        done = await erase(db, erasure)
    return ErasureOut(kind=done.kind, subject_id=done.subject_id, erased_at=done.erased_at, erased_by=done.erased_by)


def _erase_route(kind: SubjectKind) -> HTTPRouteHandler:
    async def erase_subject(
        record_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        settings: NamedDependency[Settings],
    ) -> ErasureOut:
        return await _erase(kind, record_id, request.user, db, settings)

    return post(
        f"/v1/{kind}s/{{record_id:uuid}}/erase",
        opt=roles("admin"),
        operation_id=f"erase{kind.capitalize()}",
        summary=f"Erase a {kind}'s identity for good (their figures stay in every report)",
        responses=ERASE_PROBLEMS,
        status_code=200,
        tags=["privacy"],
        name=f"erase_{kind}",
    )(erase_subject)


ERASE_ROUTES: Final[list[HTTPRouteHandler]] = [_erase_route("participant"), _erase_route("contact")]
"""Erasure: the person's name, e-mail address and phone number become unreadable; every figure stays."""
