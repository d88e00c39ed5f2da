"""Health and the store's status."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from infra.db import TenantConnection
from infra.event_store import EventStore, StoreStatus
from services.api.problems import problem_responses
from services.api.security import public, roles


class Health(msgspec.Struct, frozen=True):
    """Liveness."""

    status: str


class StatusController(Controller):
    """``/health`` and ``/v1/status``."""

    tags = ("operations",)

    @get("/health", opt=public(), operation_id="health", summary="Liveness", security=[])
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/v1/status",
        opt=roles("admin", "staff"),
        operation_id="storeStatus",
        responses=problem_responses(401, 403),
        summary="Event store head, size and the age of the oldest open transaction",
    )
    async def status(self, store: NamedDependency[EventStore], db: NamedDependency[TenantConnection]) -> StoreStatus:
        return await store.status(db)
