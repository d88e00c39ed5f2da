"""Shared fixtures: a migrated template database per run, a clone per test, a Redis key space per run.

Each test gets its own database cloned from the template (cheap, and isolation
holds even when the code under test commits). Nothing here fakes PostgreSQL
or Redis: tests talk to the real servers named by PEOPLELINKS_TEST_DATABASE_URL
(default: the local PostgreSQL as postgres) and REDIS_URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from infra.accounts import create_programme, create_user
from infra.db import connect_owner, create_app_pool, create_worker_pool
from infra.export_jobs import render_pending
from infra.migrate import migrate
from infra.settings import Settings
from services.api.app import create_app
from services.exports import render
from tests.support import MASTER_KEY, Api, Tenant

# pytester: tests/integration/test_log_watch.py runs a session of its own; tests.log_watch: no personal value in any
# log line of the whole run (issue 11).
pytest_plugins = ["pytester", "tests.log_watch"]

ADMIN_PASSWORD = "correct horse battery"
RUN_ID = uuid.uuid4().hex[:10]


def _server_url() -> str:
    return os.environ.get("PEOPLELINKS_TEST_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
async def template_database() -> AsyncIterator[str]:
    """A database migrated once per run, cloned by every test."""
    name = f"pltest_{RUN_ID}_template"
    admin = await asyncpg.connect(_server_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(_with_database(_server_url(), name))
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield name
    finally:
        for row in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"pltest_{RUN_ID}_%"):
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(template_database: str) -> AsyncIterator[str]:
    """A fresh database for this test, cloned from the migrated template."""
    name = f"pltest_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_server_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield _with_database(_server_url(), name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for this test: its own database, Redis key space and erasure ledger."""
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
            "PEOPLELINKS_REDIS_PREFIX": f"pltest:{RUN_ID}:{uuid.uuid4().hex[:8]}",
            "PEOPLELINKS_SECRET_KEY": "test-secret-key-of-at-least-32-bytes!",
            "PEOPLELINKS_POOL_MIN": "1",
            "PEOPLELINKS_POOL_MAX": "24",
            "PEOPLELINKS_MASTER_KEY": MASTER_KEY,
            "PEOPLELINKS_ERASURE_LEDGER": str(tmp_path / "erasure-ledger.jsonl"),
            # Tests follow a 202's Location (tests.support.Api.download) rather than wait long in one request.
            "PEOPLELINKS_EXPORT_WAIT_SECONDS": "2",
        }
    )


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The application's pool (acting as the application role)."""
    the_pool = await create_app_pool(settings)
    yield the_pool
    await the_pool.close()


@pytest.fixture
async def worker_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The worker's pool (acting as the worker role: every programme's read models)."""
    the_pool = await create_worker_pool(settings)
    yield the_pool
    await the_pool.close()


@pytest.fixture
async def export_worker(worker_pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The worker's export rendering (``infra.export_jobs.render_pending``), polling as its sweep does."""

    async def render_forever() -> None:
        while True:
            await render_pending(worker_pool, render)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(render_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def owner(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owning user (as migrations and operators connect)."""
    conn = await connect_owner(settings)
    yield conn
    await conn.close()


async def _tenant(owner: asyncpg.Connection, name: str) -> Tenant:
    email = f"admin-{uuid.uuid4().hex[:8]}@{name.lower()}.example"
    programme_id, admin_id = await create_programme(owner, name=name, admin_email=email, admin_password=ADMIN_PASSWORD)
    counselor_email = f"counselor-{uuid.uuid4().hex[:8]}@{name.lower()}.example"
    counselor_id = await create_user(
        owner, programme_id=programme_id, email=counselor_email, role="counselor", password=ADMIN_PASSWORD
    )
    return Tenant(
        programme_id=programme_id,
        admin_id=admin_id,
        admin_email=email,
        counselor_id=counselor_id,
        counselor_email=counselor_email,
        password=ADMIN_PASSWORD,
    )


@pytest.fixture
async def tenant(owner: asyncpg.Connection) -> Tenant:
    """A programme with an admin and a counselor."""
    return await _tenant(owner, "Northside")


@pytest.fixture
async def other_tenant(owner: asyncpg.Connection) -> Tenant:
    """A second, unrelated programme."""
    return await _tenant(owner, "Southside")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """The API in-process, with its own pool."""
    async with AsyncTestClient(app=create_app(settings), timeout=60) as test_client:
        yield test_client


@pytest.fixture
async def api(client: AsyncTestClient, tenant: Tenant) -> Api:  # type: ignore[type-arg]
    """The API as the tenant's admin."""
    return await Api.login(client, tenant.admin_email, tenant.password)
