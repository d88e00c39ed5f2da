"""Health and the store's status."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import asyncpg
import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from infra.db import TenantConnection
from infra.event_store import EventStore, StoreStatus
from services.api.problems import RETRY_AFTER_SECONDS, database_unavailable, problem_responses
from services.api.security import public, roles


class Health(msgspec.Struct, frozen=True):
    """Liveness."""

    status: str


class HeldProjection(msgspec.Struct, frozen=True):
    """A projection that holds some programmes back: how many, since when, the kinds of error (no ids)."""

    name: str
    programmes: int
    since: dt.datetime
    errors: list[str]


class Readiness(msgspec.Struct, frozen=True):
    """Whether this process can serve: the database answers; ``degraded`` when a projection holds programmes."""

    status: Literal["ready", "degraded"]
    held: list[HeldProjection]


class StatusController(Controller):
    """``/health`` and ``/v1/status``."""

    tags = ("operations",)

    @get("/health", opt=public(), operation_id="health", summary="Liveness", security=[])
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/health/ready",
        opt=public(),
        operation_id="readiness",
        summary="Readiness: the database answers; projections that hold programmes back",
        security=[],
        responses={503: ResponseSpec(Readiness, description="the database does not answer")},
    )
    async def ready(self, pool: NamedDependency[asyncpg.Pool]) -> Response[Readiness]:
        # A held programme does not make the process unready: the others are served, and pulling every replica
        # out of a load balancer for one programme's event would stop them all. It is reported, loudly.
        try:
            rows = await pool.fetch("SELECT name, programmes, since, errors FROM peoplelinks_projection_holds()")
        except Exception as e:
            if not database_unavailable(e):
                raise
            return Response(
                Readiness(status="degraded", held=[]), status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS}
            )
        held = [HeldProjection(r["name"], r["programmes"], r["since"], list(r["errors"])) for r in rows]
        return Response(Readiness(status="degraded" if held else "ready", held=held))

    @get(
        "/v1/status",
        opt=roles("admin", "staff"),
        operation_id="storeStatus",
        responses=problem_responses(401, 403),
        summary="Event store head, size and the age of the oldest open transaction",
    )
    async def status(self, store: NamedDependency[EventStore], db: NamedDependency[TenantConnection]) -> StoreStatus:
        return await store.status(db)
