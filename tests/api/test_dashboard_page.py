"""The web dashboards page: served to anyone, the same bytes for everyone (no data in it), with its own CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from litestar.testing import AsyncTestClient

from services.api.security import API_CSP
from tests.support import Api, Tenant

Client = AsyncTestClient  # type: ignore[type-arg]


def shipped_page() -> bytes:
    return (resources.files("services.api") / "static" / "dashboard.html").read_bytes()


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def sha256_source(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"


async def test_the_page_is_served_without_a_login(client: Client) -> None:
    response = await client.get("/dashboards")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="login-form"' in response.text


async def test_the_page_is_the_same_static_file_for_everyone_and_holds_no_data(
    client: Client, api: Api, tenant: Tenant
) -> None:
    await api.new_participant(tenant.counselor_id)
    anonymous = await client.get("/dashboards")
    logged_in = await api.get("/dashboards")
    assert anonymous.content == logged_in.content == shipped_page()
    for secret in (tenant.admin_email, tenant.counselor_email, str(tenant.programme_id), str(tenant.counselor_id)):
        assert secret not in anonymous.text


async def test_the_page_loads_nothing_from_elsewhere(client: Client) -> None:
    html = (await client.get("/dashboards")).text
    # The only address in it is the SVG namespace; no script, style or image is fetched.
    assert set(re.findall(r"https?://[^\s\"'`]+", html)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(script|link|img|iframe)[^>]*\ssrc=", html)


async def test_the_csp_lets_only_the_pages_own_inline_script_and_style_run(client: Client) -> None:
    response = await client.get("/dashboards")
    csp = policy(response.headers["content-security-policy"])
    html = response.text
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", *(sha256_source(s) for s in scripts)]
    assert csp["style-src"] == ["'self'", *(sha256_source(s) for s in styles)]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_rest_of_the_api_keeps_the_api_policy(client: Client) -> None:
    response = await client.get("/health")
    assert response.headers["content-security-policy"] == API_CSP
