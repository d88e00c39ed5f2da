"""Security headers on every answer, errors included; allowed hosts, CORS and body size from the settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from infra.settings import Settings
from services.api.app import create_app
from services.api.security import API_CSP, DOCS_CSP
from tests.support import Api, Tenant, enrolment, new_id

Client = AsyncTestClient  # type: ignore[type-arg]


def assert_secured(response: Any, *, docs: bool = False) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["content-security-policy"] == (DOCS_CSP if docs else API_CSP)
    if not docs:
        assert headers["cache-control"] == "no-store"


@asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[Client]:
    changed = msgspec.structs.replace(settings, **changes)
    async with AsyncTestClient(app=create_app(changed), timeout=60) as test_client:
        yield test_client


async def test_headers_on_a_200(api: Api) -> None:
    response = await api.get("/v1/projections")
    assert response.status_code == 200
    assert_secured(response)


async def test_headers_on_a_200_of_the_login(client: Client, tenant: Tenant) -> None:
    response = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
    assert response.status_code == 200
    assert_secured(response)


async def test_headers_on_a_401(client: Client) -> None:
    response = await client.get("/v1/projections")
    assert response.status_code == 401
    assert_secured(response)
    bad_login = await client.post("/v1/auth/login", json={"email": "a@b.example", "password": "nope"})
    assert bad_login.status_code == 401
    assert_secured(bad_login)


async def test_headers_on_a_403(client: Client, tenant: Tenant) -> None:
    counselor = await Api.login(client, tenant.counselor_email, tenant.password)
    response = await counselor.get("/v1/status")
    assert response.status_code == 403
    assert_secured(response)


async def test_headers_on_a_404(api: Api, client: Client) -> None:
    missing_record = await api.get(f"/v1/participants/{new_id()}/events")
    assert missing_record.status_code == 404
    assert_secured(missing_record)
    missing_route = await client.get("/v1/no-such-thing")
    assert missing_route.status_code == 404
    assert_secured(missing_route)


async def test_headers_on_a_422(api: Api) -> None:
    response = await api.post("/v1/users", {"email": "not an address", "role": "staff", "password": "x" * 12})
    assert response.status_code == 422
    assert_secured(response)


async def test_headers_on_a_429(client: Client, tenant: Tenant) -> None:
    for _ in range(5):
        await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": "wrong password!"})
    response = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
    assert response.status_code == 429
    assert_secured(response)


async def test_every_routed_answer_has_a_request_id(api: Api) -> None:
    first = await api.get("/v1/projections")
    second = await api.get("/v1/projections")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_the_openapi_document_and_its_page_are_served_with_the_docs_policy(client: Client) -> None:
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert {"/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout", "/v1/access-log"} <= set(paths)
    assert_secured(document, docs=True)
    for page in ("/schema", "/schema/swagger"):
        html = await client.get(page)
        assert html.status_code == 200, page
        assert html.headers["content-type"].startswith("text/html")
        assert_secured(html, docs=True)
        # The viewer's files come from the API itself: programmes run it on closed networks.
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', html.text)
        assert scripts and all(src.startswith("/schema/assets/") for src in scripts), scripts
        for src in scripts:
            asset = await client.get(src)
            assert asset.status_code == 200, src
    assert "https:" not in DOCS_CSP  # nothing may load from elsewhere


async def test_a_body_over_the_limit_is_413(settings: Settings, tenant: Tenant) -> None:
    async with app_with(settings, max_body_bytes=2_000) as client:
        api = await Api.login(client, tenant.admin_email, tenant.password)
        body = enrolment(tenant.counselor_id, notes="x" * 5_000)
        response = await api.record("participant", new_id(), body)
        assert response.status_code == 413
        assert_secured(response)


async def test_only_allowed_hosts_are_answered(settings: Settings) -> None:
    async with app_with(settings, allowed_hosts=("api.peoplelinks.example",)) as client:
        refused = await client.get("/health", headers={"Host": "evil.example"})
        assert refused.status_code == 400
        assert_secured(refused)
        answered = await client.get("/health", headers={"Host": "api.peoplelinks.example"})
        assert answered.status_code == 200


@pytest.mark.parametrize(
    ("origin", "allowed"), [("https://app.peoplelinks.example", True), ("https://evil.example", False)]
)
async def test_cors_admits_only_the_configured_origins(settings: Settings, origin: str, allowed: bool) -> None:
    async with app_with(settings, cors_origins=("https://app.peoplelinks.example",)) as client:
        preflight = await client.options(
            "/v1/projections",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        simple = await client.get("/health", headers={"Origin": origin})
        if allowed:
            assert preflight.status_code in (200, 204)
            assert preflight.headers["access-control-allow-origin"] == origin
            assert simple.headers["access-control-allow-origin"] == origin
        else:
            assert preflight.status_code == 400
            assert "access-control-allow-origin" not in simple.headers


async def test_no_cors_headers_without_configured_origins(client: Client) -> None:
    response = await client.get("/health", headers={"Origin": "https://app.peoplelinks.example"})
    assert "access-control-allow-origin" not in response.headers
