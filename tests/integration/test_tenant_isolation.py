"""Tenant isolation in the database itself: forced row-level security on every table of programme data."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from asyncpg.pool import PoolConnectionProxy

from infra.db import create_app_pool, tenant_connection
from infra.settings import Settings
from tests.support import Api, Tenant, envelope


async def _tables_with_programme_data(owner: asyncpg.Connection) -> list[str]:
    rows = await owner.fetch(
        """SELECT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND c.column_name = 'programme_id' AND t.table_type = 'BASE TABLE'
           ORDER BY 1"""
    )
    return [r["table_name"] for r in rows]


async def test_every_table_holding_programme_data_has_forced_row_level_security(owner: asyncpg.Connection) -> None:
    tables = await _tables_with_programme_data(owner)
    assert {"events", "streams", "users", "programmes", "rm_participants", "rm_outreach", "access_log"} <= set(tables)
    rows = await owner.fetch(
        """SELECT relname, relrowsecurity, relforcerowsecurity,
                  (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname
                     AND 'peoplelinks_app' = ANY(p.roles)) AS app_policies
           FROM pg_class c WHERE relname = ANY($1::text[]) AND relkind = 'r'""",
        tables,
    )
    unprotected = [r["relname"] for r in rows if not (r["relrowsecurity"] and r["relforcerowsecurity"])]
    assert unprotected == []
    assert all(r["app_policies"] >= 1 for r in rows)


async def test_the_application_role_owns_nothing_and_cannot_bypass(owner: asyncpg.Connection) -> None:
    role = await owner.fetchrow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'peoplelinks_app'")
    assert role is not None
    assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
    owned = await owner.fetchval(
        """SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
           WHERE r.rolname IN ('peoplelinks_app', 'peoplelinks_worker')"""
    )
    assert owned == 0


@pytest.fixture
async def two_programmes(api: Api, client, other_tenant: Tenant) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    mine = await api.new_contact()
    theirs_api = await Api.login(client, other_tenant.admin_email, other_tenant.password)
    theirs = await theirs_api.new_contact()
    assert (await theirs_api.get(f"/v1/contacts/{theirs}/events")).status_code == 200
    return mine, theirs


async def test_as_the_application_role_another_programmes_rows_are_invisible_without_any_filter(
    pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, other_tenant: Tenant, two_programmes: tuple[str, str]
) -> None:
    tables = await _tables_with_programme_data(owner)
    async with pool.acquire() as conn:
        # Nothing at all until the connection says which programme it acts for.
        for table in tables:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        await conn.execute("SELECT set_config('peoplelinks.programme_id', $1, false)", str(tenant.programme_id))
        for table in tables:
            # No WHERE clause: the database alone keeps the other programme out.
            others = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE programme_id <> $1", tenant.programme_id)
            assert others == 0, table
        assert await conn.fetchval("SELECT count(*) FROM events") == 1
        assert await owner.fetchval("SELECT count(*) FROM events") == 2
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # WITH CHECK refuses writing into the other programme
            await conn.execute(
                """INSERT INTO events (programme_id, stream_id, stream_version, event_id, type, schema_version, data,
                                       metadata, occurred_at)
                   VALUES ($1, 'contact-x', 1, $2, 'contact_added', 1, '{}', '{}', now())""",
                other_tenant.programme_id,
                uuid.uuid4(),
            )


async def test_a_token_of_one_programme_cannot_name_another_programmes_records(
    api: Api, tenant: Tenant, two_programmes: tuple[str, str]
) -> None:
    _, theirs = two_programmes
    assert (await api.get(f"/v1/contacts/{theirs}/events")).status_code == 404
    participant = await api.new_participant(tenant.counselor_id)
    body = envelope(
        "outreach_sent",
        {"outreach_id": str(uuid.uuid4()), "contact_id": theirs, "channel": "email", "purpose": "introduction"},
    )
    refused = await api.record("participant", participant, body)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "data.contact_id"


async def _programme_seen(conn: asyncpg.Connection | PoolConnectionProxy) -> tuple[str, int]:
    """What the connection acts for (the raw setting) and how many events it sees."""
    setting = await conn.fetchval("SELECT coalesce(current_setting('peoplelinks.programme_id', true), '')")
    return setting, await conn.fetchval("SELECT count(*) FROM events")


async def test_a_pooled_connection_never_carries_one_programme_into_the_next_use(
    settings: Settings, tenant: Tenant, other_tenant: Tenant, two_programmes: tuple[str, str]
) -> None:
    # One connection, so every use below gets the very connection the previous one gave back.
    pool = await create_app_pool(settings, min_size=1, max_size=1)
    try:
        async with tenant_connection(pool, tenant.programme_id) as conn:
            assert await _programme_seen(conn) == (str(tenant.programme_id), 1)
        # Acquired without a programme (as the session lookup or a login would): nothing of the last one.
        async with pool.acquire() as conn:
            assert await _programme_seen(conn) == ("", 0)
        assert await pool.fetchval("SELECT count(*) FROM events") == 0
        async with tenant_connection(pool, tenant.programme_id) as conn:
            assert await _programme_seen(conn) == (str(tenant.programme_id), 1)
        async with tenant_connection(pool, other_tenant.programme_id) as conn:
            assert await _programme_seen(conn) == (str(other_tenant.programme_id), 1)
            assert await conn.fetchval("SELECT count(*) FROM events WHERE programme_id = $1", tenant.programme_id) == 0
        # A block that fails half-way gives the connection back acting for its programme: the next use decides.
        with pytest.raises(asyncpg.UndefinedTableError):
            async with tenant_connection(pool, tenant.programme_id) as conn:
                await conn.execute("SELECT * FROM no_such_table")
        assert await pool.fetchval("SELECT count(*) FROM events") == 0
        # Code that sets the programme by hand on a plain acquire is reset on release, as before.
        async with pool.acquire() as conn:
            await conn.execute("SELECT set_config('peoplelinks.programme_id', $1, false)", str(tenant.programme_id))
        async with pool.acquire() as conn:
            assert await _programme_seen(conn) == ("", 0)
        async with tenant_connection(pool, other_tenant.programme_id) as conn:
            assert await _programme_seen(conn) == (str(other_tenant.programme_id), 1)
    finally:
        await pool.close()


async def test_a_tenant_connection_of_a_foreign_pool_still_acts_for_its_programme(
    settings: Settings, tenant: Tenant, two_programmes: tuple[str, str]
) -> None:
    # A pool not made by create_app_pool (no setup hook): tenant_connection sets the programme itself, and the
    # pool's own reset (RESET ALL) clears it.
    pool = await asyncpg.create_pool(
        settings.database_url, min_size=1, max_size=1, server_settings={"role": settings.app_role}
    )
    assert pool is not None
    try:
        async with tenant_connection(pool, tenant.programme_id) as conn:
            assert await _programme_seen(conn) == (str(tenant.programme_id), 1)
        async with pool.acquire() as conn:
            assert await _programme_seen(conn) == ("", 0)
    finally:
        await pool.close()
