"""Tenant isolation in the database itself: forced row-level security on every table of programme data."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

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
