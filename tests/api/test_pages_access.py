"""Who may open which page: generated from the app's route table, as for the JSON API.

The pages (``/app``) answer their session cookie only, the JSON API its bearer
tokens only; every form and script call of the pages needs the CSRF token.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from infra.accounts import create_user
from infra.settings import Settings
from services.api.app import create_app
from services.api.security import PAGES_CSP
from tests.api.test_route_authorization import ROLES, route_table
from tests.support import Api, Tenant, project_everything

Client = AsyncTestClient  # type: ignore[type-arg]


@pytest.fixture
async def browser(settings: Settings) -> AsyncIterator[Client]:
    """The app over HTTPS (the session cookie is Secure), as a browser would keep cookies."""
    async with AsyncTestClient(app=create_app(settings), base_url="https://testserver.local", timeout=60) as client:
        yield client


async def csrf_token(client: Client, path: str = "/app/login") -> str:
    page = await client.get(path)
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text
    return found.group(1)


async def log_in(client: Client, email: str, password: str) -> Any:
    token = await csrf_token(client)
    return await client.post(
        "/app/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )


@pytest.fixture
async def users(owner: Any, tenant: Tenant) -> dict[str, str]:
    """An e-mail address for each role of the tenant's programme."""
    emails = {"admin": tenant.admin_email, "counselor": tenant.counselor_email}
    for role in ("staff", "funder"):
        emails[role] = f"{role}-{uuid.uuid4().hex[:6]}@northside.example"
        await create_user(
            owner, programme_id=tenant.programme_id, email=emails[role], role=role, password=tenant.password
        )
    return emails


def page_routes(settings: Settings) -> list[Any]:
    return [r for r in route_table(create_app(settings)) if r.path.startswith("/app") and not r.automatic]


def url_of(path: str, participant: str) -> str:
    return path.replace("{participant_id}", participant).replace("{user_id}", str(uuid.uuid4()))


async def test_without_a_login_a_page_leads_to_the_login_and_a_form_is_refused(
    browser: Client, settings: Settings, api: Api, tenant: Tenant
) -> None:
    participant = await api.new_participant(tenant.counselor_id)
    for route in page_routes(settings):
        if route.public:
            continue
        answer = await browser.request(route.method, url_of(route.path, participant), follow_redirects=False)
        if route.method == "GET":
            assert answer.status_code == 303, route.label
            assert answer.headers["location"].startswith("/app/login?next=%2Fapp"), route.label
        else:
            assert answer.status_code == 401, route.label


async def test_a_bearer_token_opens_no_page_and_the_page_cookie_opens_no_api(
    browser: Client, api: Api, tenant: Tenant
) -> None:
    overview = await browser.get("/app/overview", headers=api.headers, follow_redirects=False)
    assert overview.status_code == 303
    assert (await log_in(browser, tenant.admin_email, tenant.password)).status_code == 303
    assert (await browser.get("/app/overview")).status_code == 200
    assert (await browser.get("/v1/dashboards/funnel")).status_code == 401


async def test_each_role_opens_exactly_the_pages_its_role_names(
    browser: Client, settings: Settings, api: Api, tenant: Tenant, users: dict[str, str], worker_pool: asyncpg.Pool
) -> None:
    participant = await api.new_participant(tenant.counselor_id)
    await project_everything(worker_pool)
    gets = [
        r
        for r in page_routes(settings)
        if r.method == "GET" and not r.public and "{" not in r.path.replace("{participant_id}", "")
    ]
    assert {r.path for r in gets} >= {"/app/overview", "/app/follow-ups", "/app/report", "/app/admin"}
    for role in ROLES:
        browser.cookies.clear()
        assert (await log_in(browser, users[role], tenant.password)).status_code == 303
        for route in gets:
            answer = await browser.get(url_of(route.path, participant), follow_redirects=False)
            if role in route.roles:
                # Admitted: the page, or its own answer to what is missing (a download's format, a release).
                assert answer.status_code in (200, 303, 400, 404), (role, route.label, answer.text[:300])
            else:
                assert answer.status_code == 403, (role, route.label)
                assert answer.headers["content-type"].startswith("text/html")
                assert "Not allowed for your role" in answer.text


async def test_the_session_cookie_is_httponly_secure_strict_and_kept_to_the_pages(
    browser: Client, tenant: Tenant
) -> None:
    answer = await log_in(browser, tenant.admin_email, tenant.password)
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("peoplelinks_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "SameSite=Strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/app" in cookie or "path=/app" in cookie.lower()


async def test_a_form_without_the_csrf_token_is_refused(browser: Client, tenant: Tenant) -> None:
    assert (await log_in(browser, tenant.admin_email, tenant.password)).status_code == 303
    refused = await browser.post(
        "/app/admin/settings",
        data={"time_zone": "UTC", "suppress_below": "11", "follow_up_after_days": "7"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    token = await csrf_token(browser, "/app/admin")
    accepted = await browser.post(
        "/app/admin/settings",
        data={"time_zone": "UTC", "suppress_below": "11", "follow_up_after_days": "7", "_csrf_token": token},
        follow_redirects=False,
    )
    assert accepted.status_code == 303


async def test_the_service_workers_own_fetches_leave_the_login_forms_token_standing(
    browser: Client, tenant: Tenant
) -> None:
    # A browser with no cookie opens the login page; the service worker, registered by an earlier visit, checks
    # for an update and keeps its offline page meanwhile, before the page's cookie was kept (a race the browser
    # tests met). Those answers set no CSRF cookie, so the login form's token still matches.
    token = await csrf_token(browser)
    kept = browser.cookies.get("peoplelinks_csrf")
    assert kept
    browser.cookies.clear()
    for path in ("/app/sw.js", "/app/offline"):
        fetched = await browser.get(path)
        assert fetched.status_code == 200
        assert "peoplelinks_csrf" not in fetched.headers.get("set-cookie", "")
    browser.cookies.set("peoplelinks_csrf", kept, domain="testserver.local", path="/app")
    answer = await browser.post(
        "/app/login",
        data={"email": tenant.admin_email, "password": tenant.password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303


async def test_logging_out_ends_the_session_at_once(browser: Client, tenant: Tenant) -> None:
    assert (await log_in(browser, tenant.admin_email, tenant.password)).status_code == 303
    kept = dict(browser.cookies)
    token = await csrf_token(browser, "/app/overview")
    assert (await browser.post("/app/logout", data={"_csrf_token": token}, follow_redirects=False)).status_code == 303
    browser.cookies.clear()
    for name, value in kept.items():
        browser.cookies.set(name, value, domain="testserver.local")
    again = await browser.get("/app/overview", follow_redirects=False)
    assert again.status_code == 303  # the old cookie names a session that has ended


async def test_pages_have_their_own_strict_policy(browser: Client) -> None:
    login = await browser.get("/app/login")
    assert login.headers["content-security-policy"] == PAGES_CSP
    assert "'unsafe-inline'" not in PAGES_CSP
    assert login.headers["cache-control"] == "no-store"
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", login.text)  # no inline script anywhere
    assert not re.search(r"https?://", login.text)  # nothing loaded from elsewhere


async def test_an_unknown_page_is_a_page_saying_so_and_an_unknown_api_path_stays_json(browser: Client) -> None:
    page = await browser.get("/app/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    api = await browser.get("/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
