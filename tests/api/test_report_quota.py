"""The report quota: report, dashboard and export requests per user and programme, kept in PostgreSQL.

One funder asked for 300 reports in three seconds (issue 14, item 4). Each
request of a route marked ``report_quota()`` now takes a token of its caller's
bucket (``infra/report_quota.py``); the tests lower the limits through the
settings, as an operator would.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg
import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from infra.settings import Settings
from services.api.app import create_app
from services.api.limits import REPORT_QUOTA
from tests.support import Api, Tenant, in_this_loop

Client = AsyncTestClient  # type: ignore[type-arg]
# Every route under these asks for a report or a dashboard (or releases one).
REPORT_PREFIXES = ("/v1/reports", "/v1/dashboards")
Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(settings: Settings) -> Serve:
    """An API process (its own app and pool) with the quota given, as a replica of a deployment."""

    @asynccontextmanager
    async def served(*, per_minute: int, burst: int) -> AsyncIterator[httpx.AsyncClient]:
        limited = msgspec.structs.replace(settings, report_requests_per_minute=per_minute, report_request_burst=burst)
        # Over HTTPS, as deployed: the pages' session and CSRF cookies are Secure.
        async with in_this_loop(create_app(limited), base_url="https://testserver.local") as client:
            yield client

    return served


async def test_past_the_burst_a_user_gets_429_naming_the_limit_with_retry_after(serve: Serve, tenant: Tenant) -> None:
    async with serve(per_minute=1, burst=3) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        for format_ in ("json", "csv", "json"):  # every format draws on the one quota
            response = await admin.get(f"/v1/reports/outcomes?format={format_}")
            assert response.status_code == 200, response.text

        refused = await admin.get("/v1/reports/outcomes?format=xlsx")
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["status"] == 429
        assert problem["limit"] == "report_requests"
        assert "1 report requests a minute" in problem["detail"]
        assert "bursts of up to 3" in problem["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60

        # Another user of the programme has a bucket of their own.
        counselor = await Api.login(client, tenant.counselor_email, tenant.password)
        assert (await counselor.get("/v1/dashboards/response-rates")).status_code == 200


async def test_every_report_dashboard_and_release_route_draws_on_the_quota(
    serve: Serve, settings: Settings, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    app = create_app(settings)  # its route table, from the app itself: a route added later is checked too
    limited = sorted(
        (method, route.path_format)
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        for method in handler.http_methods
        if handler.opt.get(REPORT_QUOTA) and route.path_format.startswith("/v1/")
    )
    report_paths = {route.path_format for route in app.routes if route.path_format.startswith(REPORT_PREFIXES)}
    assert {path for _, path in limited} == report_paths
    assert set(limited) >= {
        ("GET", "/v1/reports/outcomes"),
        ("GET", "/v1/reports/monthly"),
        ("GET", "/v1/reports/monthly/{as_of}"),
        ("POST", "/v1/reports/releases"),
        ("GET", "/v1/dashboards/response-rates"),
        ("GET", "/v1/dashboards/funnel"),
    }

    async with serve(per_minute=1, burst=1) as client:
        document = (await client.get("/schema/openapi.json")).json()
        for method, path in limited:
            assert "429" in document["paths"][path][method.lower()]["responses"], (method, path)

        admin = await Api.login(client, tenant.admin_email, tenant.password)
        assert (await admin.get("/v1/reports/monthly")).status_code == 200  # the one token
        for method, path in limited:
            concrete = path.replace("{as_of}", "2026-01-31")
            if method == "POST":
                response = await admin.post(concrete, {"period": "2025-Q1", "as_of": "2025-06-30"})
            else:
                response = await admin.get(f"{concrete}?format=csv" if "outcomes" in concrete else concrete)
            assert response.status_code == 429, (method, path, response.text)
    # Refused before anything was done: no quarter was released.
    assert await owner.fetchval("SELECT count(*) FROM report_releases") == 0


async def test_replicas_of_the_api_share_one_bucket(serve: Serve, tenant: Tenant) -> None:
    async with serve(per_minute=1, burst=2) as first, serve(per_minute=1, burst=2) as second:
        on_first = await Api.login(first, tenant.admin_email, tenant.password)
        on_second = await Api.login(second, tenant.admin_email, tenant.password)
        assert (await on_first.get("/v1/reports/monthly")).status_code == 200
        assert (await on_second.get("/v1/reports/monthly")).status_code == 200
        assert (await on_first.get("/v1/reports/monthly")).status_code == 429
        assert (await on_second.get("/v1/reports/monthly")).status_code == 429


async def test_concurrent_requests_spend_each_token_once(serve: Serve, tenant: Tenant) -> None:
    async with serve(per_minute=1, burst=5) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        answers = await asyncio.gather(*(admin.get("/v1/reports/monthly") for _ in range(20)))
        statuses = sorted(response.status_code for response in answers)
        assert statuses == [200] * 5 + [429] * 15


async def test_tokens_come_back_at_the_configured_rate(serve: Serve, tenant: Tenant, owner: asyncpg.Connection) -> None:
    async with serve(per_minute=60, burst=1) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        assert (await admin.get("/v1/dashboards/funnel")).status_code == 200
        refused = await admin.get("/v1/dashboards/funnel")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        # A second passes (the bucket is dated back rather than the test sleeping): one token is back.
        await owner.execute("UPDATE report_request_buckets SET refilled_at = refilled_at - interval '1 second'")
        assert (await admin.get("/v1/dashboards/funnel")).status_code == 200
        assert (await admin.get("/v1/dashboards/funnel")).status_code == 429


async def test_a_request_the_role_guard_refuses_spends_no_token(serve: Serve, tenant: Tenant) -> None:
    async with serve(per_minute=1, burst=1) as client:
        counselor = await Api.login(client, tenant.counselor_email, tenant.password)
        for _ in range(3):
            assert (await counselor.get("/v1/reports/outcomes")).status_code == 403
        assert (await counselor.get("/v1/dashboards/funnel")).status_code == 200


async def test_the_defaults_admit_a_dashboard_session(client: Client, api: Api) -> None:
    """The default quota (60 a minute, bursts of 30) lets a person click through every dashboard view at once."""
    views = [f"/v1/dashboards/response-rates?group_by={g}" for g in ("channel", "purpose", "attempt", "cohort")]
    views += ["/v1/dashboards/funnel", "/v1/reports/outcomes", "/v1/reports/monthly", "/v1/reports/releases"]
    for path in views * 3:
        response = await api.get(path)
        assert response.status_code == 200, (path, response.text)


async def test_the_pages_that_compute_reports_draw_on_the_same_quota(
    serve: Serve, settings: Settings, tenant: Tenant
) -> None:
    """A page computing a report or dashboard is no way around the quota: it takes the same tokens as the API."""
    app = create_app(settings)
    limited_pages = {
        route.path_format
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.opt.get(REPORT_QUOTA) and route.path_format.startswith("/app/")
    }
    assert limited_pages == {"/app/overview", "/app/report", "/app/report/download", "/app/follow-ups"}

    async with serve(per_minute=1, burst=1) as client:
        login_page = await client.get("/app/login")
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', login_page.text)
        assert token, login_page.text
        logged_in = await client.post(
            "/app/login",
            data={"email": tenant.admin_email, "password": tenant.password, "_csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert logged_in.status_code == 303, logged_in.text
        assert (await client.get("/app/overview")).status_code == 200  # the one token
        refused = await client.get("/app/report")
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"]
        # The API of the same user finds the bucket empty too: one quota, whichever door.
        api = await Api.login(client, tenant.admin_email, tenant.password)
        assert (await api.get("/v1/reports/outcomes")).status_code == 429
