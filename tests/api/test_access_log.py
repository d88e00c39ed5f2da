"""The access log: reads of one participant's record are logged, admins read the log of their programme only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.support import Api, Tenant, new_id

Client = AsyncTestClient  # type: ignore[type-arg]


@pytest.fixture
async def counselor(client: Client, tenant: Tenant) -> Api:
    return await Api.login(client, tenant.counselor_email, tenant.password)


@pytest.fixture
async def participant(api: Api, tenant: Tenant) -> str:
    return await api.new_participant(tenant.counselor_id)


async def user_of(api: Api, client: Client, role: str, tenant: Tenant) -> Api:
    email = f"{role}-{uuid.uuid4().hex[:6]}@northside.example"
    created = await api.post("/v1/users", {"email": email, "role": role, "password": tenant.password})
    assert created.status_code == 201, created.text
    return await Api.login(client, email, tenant.password)


async def entries(api: Api, query: str = "") -> list[dict[str, Any]]:
    response = await api.get(f"/v1/access-log{query}")
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["entries"]
    return result


async def test_a_counselors_read_of_a_participant_is_logged(
    api: Api, counselor: Api, participant: str, tenant: Tenant
) -> None:
    read = await counselor.get(f"/v1/participants/{participant}/events")
    assert read.status_code == 200

    logged = await entries(api, f"?participant_id={participant}")
    assert len(logged) == 1
    entry = logged[0]
    assert entry["participant_id"] == participant
    assert entry["user_id"] == str(tenant.counselor_id)
    assert entry["role"] == "counselor"
    assert entry["action"] == "readParticipantEvents"
    assert entry["request_id"] == read.headers["x-request-id"]
    assert dt.datetime.fromisoformat(entry["at"]) <= dt.datetime.now(dt.UTC)


async def test_each_read_is_one_entry_newest_first_and_filtered_by_user(
    api: Api, counselor: Api, participant: str, tenant: Tenant
) -> None:
    await counselor.get(f"/v1/participants/{participant}/events")
    await api.get(f"/v1/participants/{participant}/events")
    await counselor.get(f"/v1/participants/{participant}/events")

    logged = await entries(api, f"?participant_id={participant}")
    assert [e["user_id"] for e in logged] == [str(tenant.counselor_id), str(tenant.admin_id), str(tenant.counselor_id)]
    assert [e["role"] for e in logged] == ["counselor", "admin", "counselor"]
    admins = await entries(api, f"?user_id={tenant.admin_id}")
    assert [e["user_id"] for e in admins] == [str(tenant.admin_id)]


async def test_reads_of_other_records_and_failed_reads_are_not_logged(
    api: Api, counselor: Api, participant: str
) -> None:
    contact = await api.new_contact()
    assert (await counselor.get(f"/v1/contacts/{contact}/events")).status_code == 200
    assert (await counselor.get(f"/v1/participants/{new_id()}/events")).status_code == 404
    assert (await counselor.get("/v1/projections")).status_code == 200
    assert await entries(api) == []


async def test_staff_counselors_and_funders_may_not_read_the_log(
    api: Api, client: Client, counselor: Api, tenant: Tenant
) -> None:
    staff = await user_of(api, client, "staff", tenant)
    funder = await user_of(api, client, "funder", tenant)
    for caller in (staff, counselor, funder):
        response = await caller.get("/v1/access-log")
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/access-log")).status_code == 401


async def test_another_programmes_admin_sees_none_of_it(
    api: Api, client: Client, counselor: Api, participant: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    await counselor.get(f"/v1/participants/{participant}/events")
    assert len(await entries(api)) == 1
    other = await Api.login(client, other_tenant.admin_email, other_tenant.password)
    assert await entries(other) == []
    assert await entries(other, f"?participant_id={participant}") == []
    assert await entries(other, f"?user_id={tenant.counselor_id}") == []


async def test_the_log_is_read_by_time_range(api: Api, counselor: Api, participant: str) -> None:
    await counselor.get(f"/v1/participants/{participant}/events")
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = today + dt.timedelta(days=1)
    yesterday = today - dt.timedelta(days=1)
    assert len(await entries(api, f"?from={yesterday}&to={tomorrow}")) == 1
    assert await entries(api, f"?from={tomorrow}") == []
    assert await entries(api, f"?to={yesterday}") == []
    hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert len(await entries(api, f"?from={hour_ago}")) == 1


async def test_bad_filters_are_422(api: Api) -> None:
    for query in ("?from=yesterday", "?to=2026-03-01T10:00:00", "?limit=0", "?limit=100000", "?participant_id=x"):
        response = await api.get(f"/v1/access-log{query}")
        assert response.status_code in (400, 422), query
    reversed_range = await api.get("/v1/access-log?from=2026-03-02&to=2026-03-01")
    assert reversed_range.status_code == 422


async def test_the_log_is_read_page_by_page(api: Api, counselor: Api, participant: str) -> None:
    for _ in range(3):
        await counselor.get(f"/v1/participants/{participant}/events")
    first = (await api.get("/v1/access-log?limit=2")).json()
    assert len(first["entries"]) == 2
    assert first["next_before"] == first["entries"][-1]["position"]
    second = (await api.get(f"/v1/access-log?limit=2&before={first['next_before']}")).json()
    assert len(second["entries"]) == 1
    assert second["next_before"] is None
    positions = [e["position"] for e in first["entries"] + second["entries"]]
    assert positions == sorted(positions, reverse=True)


async def test_the_log_keeps_ids_and_no_personal_data(
    counselor: Api, participant: str, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    await counselor.get(f"/v1/participants/{participant}/events")
    rows = [dict(r) for r in await owner.fetch("SELECT * FROM access_log")]
    assert len(rows) == 1
    assert set(rows[0]) == {
        "position",
        "programme_id",
        "user_id",
        "role",
        "participant_id",
        "action",
        "request_id",
        "at",
    }
    text = repr(rows)
    assert tenant.counselor_email not in text
    assert "Test Person" not in text


async def test_the_app_role_cannot_change_or_remove_entries(
    counselor: Api, participant: str, pool: asyncpg.Pool, owner: asyncpg.Connection
) -> None:
    await counselor.get(f"/v1/participants/{participant}/events")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE access_log SET role = 'admin'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM access_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("TRUNCATE access_log")
    assert await owner.fetchval("SELECT count(*) FROM access_log") == 1


async def test_not_even_the_owner_can_change_or_remove_entries(
    counselor: Api, participant: str, owner: asyncpg.Connection
) -> None:
    await counselor.get(f"/v1/participants/{participant}/events")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner.execute("UPDATE access_log SET role = 'admin'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner.execute("DELETE FROM access_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner.execute("TRUNCATE access_log")
    assert await owner.fetchval("SELECT count(*) FROM access_log") == 1


async def test_a_read_that_cannot_be_logged_is_withheld(
    api: Api, counselor: Api, participant: str, owner: asyncpg.Connection
) -> None:
    await owner.execute("REVOKE INSERT ON access_log FROM peoplelinks_app")
    response = await counselor.get(f"/v1/participants/{participant}/events")
    assert response.status_code == 500
    assert "Test Person" not in response.text
    assert response.json()["status"] == 500
    assert response.headers["x-content-type-options"] == "nosniff"
