"""Checks the OWASP API Security Top 10 (2023) walk-through in docs/security.md asked for, where no other test had them.

API3 (object property level): a client cannot set what the server records
about a request (programme, actor, positions) nor place a user in a programme.
API4 (resource consumption): the batch limit. API7 (SSRF): nothing in the
platform can make an outbound HTTP request.
"""

from __future__ import annotations

import ast
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from litestar.testing import AsyncTestClient

from infra.settings import Settings
from services.api.app import create_app
from tests.support import Api, Tenant, contact_added, envelope, new_id

Client = AsyncTestClient  # type: ignore[type-arg]
ROOT = Path(__file__).resolve().parents[2]


# -- API3: Broken Object Property Level Authorization -------------------------


async def test_an_event_cannot_set_what_the_server_records_about_it(api: Api, tenant: Tenant) -> None:
    contact = await api.new_contact()
    stranger = str(uuid.uuid4())
    for field, value in [
        ("metadata", {"programme_id": stranger, "actor_id": stranger}),
        ("stream_id", f"contact-{stranger}"),
        ("stream_version", 1),
        ("global_position", 1),
        ("recorded_at", "2026-03-02T10:00:00Z"),
        ("schema_version", 9),
        ("programme_id", stranger),
    ]:
        body = {**envelope("contact_updated", {"role": "Mentor"}), field: value}
        response = await api.record("contact", contact, body)
        assert response.status_code == 422, (field, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field]

    stream = (await api.get(f"/v1/contacts/{contact}/events")).json()
    assert [e["metadata"]["programme_id"] for e in stream["events"]] == [str(tenant.programme_id)]
    assert [e["metadata"]["actor_id"] for e in stream["events"]] == [str(tenant.admin_id)]


async def test_a_batch_event_cannot_set_its_metadata_either(api: Api) -> None:
    body = {"events": [{"stream_id": f"contact-{new_id()}", **contact_added(), "metadata": {"actor_id": new_id()}}]}
    response = await api.post("/v1/events:batch", body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["events[0].metadata"]


async def test_a_new_user_cannot_be_given_a_programme_or_an_id(api: Api, other_tenant: Tenant) -> None:
    for field, value in [("programme_id", str(other_tenant.programme_id)), ("user_id", new_id())]:
        body = {"email": f"u-{uuid.uuid4().hex[:8]}@example.org", "role": "staff", "password": "p" * 12, field: value}
        response = await api.post("/v1/users", body)
        assert response.status_code == 422, (field, response.text)
        assert field in response.text


# -- API4: Unrestricted Resource Consumption ----------------------------------


@asynccontextmanager
async def _app_with(settings: Settings, **changes: object) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, **changes)), timeout=60) as client:
        yield client


async def test_a_batch_over_the_event_limit_is_413_and_stores_nothing(settings: Settings, tenant: Tenant) -> None:
    async with _app_with(settings, max_batch_events=2) as client:
        api = await Api.login(client, tenant.admin_email, tenant.password)
        contacts = [new_id() for _ in range(3)]
        body = {"events": [{"stream_id": f"contact-{c}", **contact_added()} for c in contacts]}
        response = await api.post("/v1/events:batch", body)
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["events"]
        one_stream = await api.record("contact", contacts[0], {"events": [contact_added()] * 3})
        assert one_stream.status_code == 413
        for contact in contacts:
            assert (await api.get(f"/v1/contacts/{contact}/events")).status_code == 404


# -- API7: Server Side Request Forgery ----------------------------------------

HTTP_CLIENTS = {
    "httpx",
    "requests",
    "aiohttp",
    "urllib.request",
    "urllib3",
    "http.client",
    "pycurl",
    "smtplib",
    "ftplib",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_module_of_the_platform_can_make_an_outbound_http_request() -> None:
    """The API fetches no URL a client names (or any other): no HTTP client is imported anywhere."""
    found = {}
    for package in ("domain", "projections", "infra", "services"):
        for path in sorted((ROOT / package).rglob("*.py")):
            clients = {name for name in _imports(path) if name in HTTP_CLIENTS or name.split(".")[0] in HTTP_CLIENTS}
            if clients:
                found[str(path.relative_to(ROOT))] = sorted(clients)
    assert found == {}
