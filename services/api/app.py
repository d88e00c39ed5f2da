"""The API's composition root: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import swagger_ui_bundle  # type: ignore[import-untyped]
from litestar import Litestar, Request, Router
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from infra.crypto import SubjectKeys
from infra.db import TenantConnection, create_app_pool, tenant_connection
from infra.event_store import AppendResult, EventStore
from infra.export_jobs import RenderSlots
from infra.queue import Waker
from infra.report_quota import ReportQuota
from infra.settings import Settings
from services.api.access_log_routes import AccessLogController
from services.api.accounts_routes import AccountsController, AuthFailed
from services.api.borrowed import borrowed
from services.api.dashboard_routes import DashboardController, send_dashboard_csp
from services.api.events_routes import STREAM_ROUTES, EventsController, Recording
from services.api.limits import report_quota_guard
from services.api.openapi_types import JsonNumberSchema
from services.api.pages.admin import AdminController
from services.api.pages.follow_ups import FollowUpsController
from services.api.pages.overview import OverviewController
from services.api.pages.participant import ParticipantPageController
from services.api.pages.report import ReportPageController
from services.api.pages.sessions import PageAuthentication, PageSessionCookie, SessionController, csrf_config
from services.api.pages.site import PAGES, STATIC, page_error, template_config
from services.api.participant_routes import ParticipantController
from services.api.privacy_routes import ERASE_ROUTES
from services.api.problems import exception_handlers, problem, problem_for
from services.api.query_bounds import check_query_bounds
from services.api.reading_routes import ReadingController
from services.api.release_routes import ReleaseController
from services.api.report_routes import ReportController
from services.api.scope import participant_scope_guard
from services.api.security import BearerAuthentication, Principal, in_turn, public, role_guard, send_security_headers
from services.api.status_routes import StatusController
from services.api.telemetry import RequestCycle
from services.observability import EVENTS_APPENDED
from services.recording import Recorder

DOCS_ASSETS = "/schema/assets"
"""Where the API serves the documentation viewer's own files."""


def create_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> Litestar:
    """The application; it opens its own pool on start-up unless one is given.

    ``clock`` replaces the wall clock of the append rules (for replaying a dated log).
    """
    owns_pool = pool is None
    subject_keys = SubjectKeys.from_settings(settings)  # no master key, no API: names could not be read
    holder: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        the_pool = pool if pool is not None else await create_app_pool(settings)
        store = EventStore(the_pool)
        waker = Waker(settings)
        app.state.pool = the_pool  # for guards, which have no dependency injection
        # Made in the app's event loop: one bound on the renders of this process.
        app.state.render_slots = RenderSlots(settings.max_concurrent_renders, wait=settings.render_wait_seconds)
        recorder = Recorder(store, keys=subject_keys, after_commit=_counted(waker), clock=clock)
        holder.update(
            pool=the_pool,
            store=store,
            waker=waker,
            render_slots=app.state.render_slots,
            recorder=recorder,
            recording=Recording(recorder=recorder, max_events=settings.max_batch_events),
        )
        try:
            yield
        finally:
            await waker.close()
            if owns_pool:
                await the_pool.close()

    def _not_found(request: Any, exc: Exception) -> Any:
        # A path under the pages that no route matches is answered by the app, not the pages' router: a person
        # who mistyped it gets a page saying so, as any other page error, not problem details in JSON.
        if request.url.path == PAGES or request.url.path.startswith(f"{PAGES}/"):
            return page_error(request, exc)
        return problem_for(request, exc)

    def _auth_failed(request: Any, exc: Exception) -> Any:
        response = problem(401, "Wrong e-mail or password", None, request)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def provide_db(request: Request[Principal, Any, Any]) -> AsyncIterator[TenantConnection]:
        """A connection acting for the caller's programme (row-level security), for the request's duration.

        Given back as Litestar closes this generator, or as the request ends when Litestar never does (another
        dependency of the route failed after this one yielded: see ``services.api.borrowed``).
        """
        pool = holder["pool"]
        async with tenant_connection(pool, request.user.programme_id) as conn:
            with borrowed(request.scope, pool, conn):
                yield conn

    pages = Router(
        path=PAGES,
        route_handlers=[
            SessionController,
            OverviewController,
            FollowUpsController,
            ParticipantPageController,
            ReportPageController,
            AdminController,
        ],
        # In this order: open the session cookie, find its user, then check the CSRF token of a form or script call.
        middleware=[
            DefineMiddleware(PageSessionCookie, settings=settings),
            DefineMiddleware(PageAuthentication, pool=lambda: holder["pool"]),
            DefineMiddleware(CSRFMiddleware, config=csrf_config(settings)),
        ],
        exception_handlers={Exception: page_error},
        include_in_schema=False,
    )
    handlers = exception_handlers()
    handlers[AuthFailed] = _auth_failed
    handlers[NotFoundException] = _not_found
    return Litestar(
        route_handlers=[
            AccessLogController,
            AccountsController,
            DashboardController,
            EventsController,
            *STREAM_ROUTES,
            ParticipantController,
            *ERASE_ROUTES,
            ReadingController,
            ReleaseController,
            ReportController,
            StatusController,
            pages,
            create_static_files_router(
                path=f"{PAGES}/static", directories=[STATIC], opt=public(), include_in_schema=False, name="page-assets"
            ),
            create_static_files_router(
                path=DOCS_ASSETS, directories=[swagger_ui_bundle.swagger_ui_path], opt=public(), include_in_schema=False
            ),
        ],
        lifespan=[lifespan],
        dependencies={
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "pool": Provide(lambda: holder["pool"], sync_to_thread=False),
            "store": Provide(lambda: holder["store"], sync_to_thread=False),
            "recorder": Provide(lambda: holder["recorder"], sync_to_thread=False),
            "subject_keys": Provide(lambda: subject_keys, sync_to_thread=False),
            "db": Provide(provide_db),
            "waker": Provide(lambda: holder["waker"], sync_to_thread=False),
            "render_slots": Provide(lambda: holder["render_slots"], sync_to_thread=False),
            "recording": Provide(lambda: holder["recording"], sync_to_thread=False),
        },
        # The quota after the roles: a caller the route refuses spends nothing. One guard running them in turn.
        guards=[
            in_turn(
                role_guard,
                participant_scope_guard,
                report_quota_guard(
                    ReportQuota(per_minute=settings.report_requests_per_minute, burst=settings.report_request_burst)
                ),
            )
        ],
        before_request=check_query_bounds,
        middleware=[
            # Outermost: the request id is known to every log line below it; the access log and the connections
            # borrowed (services/api/telemetry.py).
            DefineMiddleware(RequestCycle, pool=lambda: holder["pool"]),
            DefineMiddleware(BearerAuthentication, secret=settings.secret_key, pool=lambda: holder["pool"]),
        ],
        before_send=[send_security_headers, send_dashboard_csp],  # the page's policy replaces the API's
        exception_handlers=handlers,
        request_max_body_size=settings.max_body_bytes,
        allowed_hosts=AllowedHostsConfig(allowed_hosts=list(settings.allowed_hosts)),
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="PeopleLinks API",
            version="1.0.0",
            description=(
                "Outcome tracking for reentry employment programmes. Vocabulary: events.md, reports.md, api.md."
            ),
            path="/schema",
            render_plugins=[
                SwaggerRenderPlugin(
                    js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                    css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                    standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                    path=["/", "/swagger"],
                ),
                JsonRenderPlugin(),
                YamlRenderPlugin(),
            ],
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"bearer": []}],
        ),
        plugins=[JsonNumberSchema()],
        template_config=template_config(),
        debug=False,
        logging_config=None,  # the process configures logging (services/observability.py); Litestar would replace it
    )


def _counted(waker: Waker) -> Callable[[uuid.UUID, list[AppendResult]], Awaitable[None]]:
    """After each commit: count the events appended (the append rate), then wake the worker."""

    async def after_commit(programme_id: uuid.UUID, results: list[AppendResult]) -> None:
        EVENTS_APPENDED.inc(sum(len(result.event_ids) for result in results))
        await waker.wake(programme_id, results)

    return after_commit
