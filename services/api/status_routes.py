"""Health, metrics and the store's status.

- ``/health/live`` (and ``/health``, its older name): the process answers.
- ``/health/ready``: PostgreSQL, Redis and the projections' lag. Only a
  PostgreSQL that does not answer makes it 503: without Redis appends and
  reads go on (the worker's sweep replaces the wake-ups), and a lagging or held
  projection is the same for every replica, so pulling them all out of a load
  balancer would turn a delay into an outage. Those say ``degraded``, loudly.
- ``/metrics``: Prometheus text, to the addresses of ``PEOPLELINKS_METRICS_ALLOW``
  (loopback by default) or to a bearer of ``PEOPLELINKS_METRICS_TOKEN``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
from typing import Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST

from infra.db import TenantConnection
from infra.event_store import EventStore, StoreStatus
from infra.queue import Waker
from infra.settings import Settings
from projections.registry import PROJECTIONS
from projections.runner import overall_lag
from services.api.problems import RETRY_AFTER_SECONDS, database_unavailable, problem_responses
from services.api.security import public, roles
from services.observability import LagCollector, exposition


class Health(msgspec.Struct, frozen=True):
    """Liveness."""

    status: str


class HeldProjection(msgspec.Struct, frozen=True):
    """A projection that holds some programmes back: how many, since when, the kinds of error (no ids)."""

    name: str
    programmes: int
    since: dt.datetime
    errors: list[str]


class ProjectionLag(msgspec.Struct, frozen=True):
    """How many stored events a projection has not applied yet (over every programme)."""

    name: str
    lag: int


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Whether this process can serve, and what is wrong when it serves ``degraded``."""

    status: Literal["ready", "degraded", "unavailable"]
    postgres: Literal["ok", "down"]
    redis: Literal["ok", "down"]
    max_lag: int
    projections: list[ProjectionLag]
    held: list[HeldProjection]


class StatusController(Controller):
    """``/health``, ``/health/live``, ``/health/ready``, ``/metrics`` and ``/v1/status``."""

    tags = ("operations",)

    @get("/health/live", opt=public(), operation_id="liveness", summary="Liveness: the process answers", security=[])
    async def live(self) -> Health:
        return Health(status="ok")

    @get(
        "/health", opt=public(), operation_id="health", summary="Liveness (the older name of /health/live)", security=[]
    )
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/health/ready",
        opt=public(),
        operation_id="readiness",
        summary="Readiness: PostgreSQL answers (else 503); Redis, projection lag and held projections",
        security=[],
        responses={503: ResponseSpec(Readiness, description="PostgreSQL does not answer")},
    )
    async def ready(
        self, pool: NamedDependency[asyncpg.Pool], waker: NamedDependency[Waker], settings: NamedDependency[Settings]
    ) -> Response[Readiness]:
        redis: Literal["ok", "down"] = "ok" if await waker.ping() else "down"
        try:
            # Counted only as far as the verdict needs: this runs every few seconds on every replica.
            _, lags = await overall_lag(pool, list(PROJECTIONS), cap=settings.ready_max_lag + 1)
            rows = await pool.fetch("SELECT name, programmes, since, errors FROM peoplelinks_projection_holds()")
        except Exception as e:
            if not database_unavailable(e):
                raise
            down = Readiness(
                status="unavailable",
                postgres="down",
                redis=redis,
                max_lag=settings.ready_max_lag,
                projections=[],
                held=[],
            )
            return Response(down, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
        held = [HeldProjection(r["name"], r["programmes"], r["since"], list(r["errors"])) for r in rows]
        behind = any(lag > settings.ready_max_lag for _, lag in lags)
        return Response(
            Readiness(
                status="degraded" if held or behind or redis == "down" else "ready",
                postgres="ok",
                redis=redis,
                max_lag=settings.ready_max_lag,
                projections=[ProjectionLag(name, lag) for name, lag in lags],
                held=held,
            )
        )

    @get(
        "/metrics",
        opt=public(),
        operation_id="metrics",
        summary="Prometheus metrics (to PEOPLELINKS_METRICS_ALLOW addresses, or with PEOPLELINKS_METRICS_TOKEN)",
        security=[],
        media_type=CONTENT_TYPE_LATEST,
        responses=problem_responses(403),
    )
    async def metrics(
        self, request: Request[Any, Any, Any], pool: NamedDependency[asyncpg.Pool], settings: NamedDependency[Settings]
    ) -> Response[bytes]:
        if not may_scrape(request, settings):
            raise PermissionDeniedException(
                "metrics are served to PEOPLELINKS_METRICS_ALLOW addresses or with PEOPLELINKS_METRICS_TOKEN"
            )
        head, lags = await overall_lag(pool, list(PROJECTIONS))
        return Response(exposition([LagCollector(head, lags)]), media_type=CONTENT_TYPE_LATEST)

    @get(
        "/v1/status",
        opt=roles("admin", "staff"),
        operation_id="storeStatus",
        responses=problem_responses(401, 403),
        summary="Event store head, size and the age of the oldest open transaction",
    )
    async def status(self, store: NamedDependency[EventStore], db: NamedDependency[TenantConnection]) -> StoreStatus:
        return await store.status(db)


def may_scrape(request: Request[Any, Any, Any], settings: Settings) -> bool:
    """The client is in an allowed network, or sends the metrics token (compared in constant time)."""
    if settings.metrics_token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode()):
            return True
    try:
        client = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False  # the test client's "testclient", a Unix socket
    return any(client in ipaddress.ip_network(allowed, strict=False) for allowed in settings.metrics_allow)
