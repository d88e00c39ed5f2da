"""Sessions (refresh rotation, reuse detection, logout) and login throttling, against the real database."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import jwt
import pytest
from litestar.testing import AsyncTestClient

from infra.accounts import SLOWDOWN_STEP, LoginPolicy, LoginThrottled, attempt_login
from infra.settings import Settings
from tests.support import Api, Tenant

Client = AsyncTestClient  # type: ignore[type-arg]


async def login(client: Client, email: str, password: str) -> Any:
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


async def tokens(client: Client, email: str, password: str) -> dict[str, Any]:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(client: Client, refresh_token: str) -> Any:
    return await client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def can_read(client: Client, access_token: str) -> int:
    response = await client.get("/v1/projections", headers=bearer(access_token))
    return int(response.status_code)


# -- Sessions -----------------------------------------------------------------


async def test_login_answers_an_access_token_and_a_refresh_token(client: Client, tenant: Tenant) -> None:
    body = await tokens(client, tenant.admin_email, tenant.password)
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]
    assert body["refresh_expires_in"] > 13 * 24 * 3600
    assert await can_read(client, body["access_token"]) == 200


async def test_refresh_tokens_are_stored_hashed(client: Client, tenant: Tenant, owner: asyncpg.Connection) -> None:
    body = await tokens(client, tenant.admin_email, tenant.password)
    stored = [bytes(row["token_hash"]) for row in await owner.fetch("SELECT token_hash FROM refresh_tokens")]
    assert len(stored) == 1
    assert body["refresh_token"].encode() not in stored[0]
    assert len(stored[0]) == 32


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(client: Client, tenant: Tenant) -> None:
    first = await tokens(client, tenant.admin_email, tenant.password)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert await can_read(client, second["access_token"]) == 200

    again = await refresh(client, first["refresh_token"])
    assert again.status_code == 401
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_reusing_a_rotated_refresh_token_ends_the_whole_session(client: Client, tenant: Tenant) -> None:
    first = await tokens(client, tenant.admin_email, tenant.password)
    second = (await refresh(client, first["refresh_token"])).json()
    assert await can_read(client, second["access_token"]) == 200

    # Someone replays the stolen first token: the session ends for everyone holding it.
    assert (await refresh(client, first["refresh_token"])).status_code == 401
    assert (await refresh(client, second["refresh_token"])).status_code == 401
    assert await can_read(client, second["access_token"]) == 401
    assert await can_read(client, first["access_token"]) == 401


async def test_reuse_ends_only_that_session(client: Client, tenant: Tenant) -> None:
    laptop = await tokens(client, tenant.admin_email, tenant.password)
    phone = await tokens(client, tenant.admin_email, tenant.password)
    await refresh(client, laptop["refresh_token"])
    await refresh(client, laptop["refresh_token"])
    assert await can_read(client, phone["access_token"]) == 200
    assert (await refresh(client, phone["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_with_one_token_end_the_session(client: Client, tenant: Tenant) -> None:
    first = await tokens(client, tenant.admin_email, tenant.password)
    answers = await asyncio.gather(*(refresh(client, first["refresh_token"]) for _ in range(3)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 401, 401]
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert await can_read(client, winner["access_token"]) == 401


async def test_unknown_or_malformed_refresh_tokens_are_refused(client: Client, tenant: Tenant) -> None:
    assert (await refresh(client, "not-a-token")).status_code == 401
    assert (await client.post("/v1/auth/refresh", json={})).status_code in (400, 422)


async def test_expired_session_cannot_be_refreshed(client: Client, tenant: Tenant, owner: asyncpg.Connection) -> None:
    body = await tokens(client, tenant.admin_email, tenant.password)
    await owner.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert (await refresh(client, body["refresh_token"])).status_code == 401
    assert await can_read(client, body["access_token"]) == 401


async def test_logout_makes_the_access_token_and_the_refresh_token_stop_working(client: Client, tenant: Tenant) -> None:
    body = await tokens(client, tenant.counselor_email, tenant.password)
    response = await client.post("/v1/auth/logout", headers=bearer(body["access_token"]))
    assert response.status_code == 204
    assert await can_read(client, body["access_token"]) == 401
    assert (await refresh(client, body["refresh_token"])).status_code == 401
    assert (await client.post("/v1/auth/logout", headers=bearer(body["access_token"]))).status_code == 401


async def test_logout_needs_a_token(client: Client) -> None:
    response = await client.post("/v1/auth/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_every_role_may_log_out(client: Client, api: Api, tenant: Tenant) -> None:
    for role in ("staff", "funder"):
        email = f"{role}-{uuid.uuid4().hex[:6]}@northside.example"
        created = await api.post("/v1/users", {"email": email, "role": role, "password": tenant.password})
        assert created.status_code == 201, created.text
        body = await tokens(client, email, tenant.password)
        assert (await client.post("/v1/auth/logout", headers=bearer(body["access_token"]))).status_code == 204


async def test_a_disabled_user_is_refused_at_once(client: Client, tenant: Tenant, owner: asyncpg.Connection) -> None:
    body = await tokens(client, tenant.admin_email, tenant.password)
    await owner.execute("UPDATE users SET disabled_at = now() WHERE user_id = $1", tenant.admin_id)
    assert await can_read(client, body["access_token"]) == 401
    assert (await refresh(client, body["refresh_token"])).status_code == 401
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 401


async def test_a_changed_role_applies_to_tokens_already_issued(
    client: Client, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    body = await tokens(client, tenant.admin_email, tenant.password)
    await owner.execute("UPDATE users SET role = 'funder' WHERE user_id = $1", tenant.admin_id)
    assert await can_read(client, body["access_token"]) == 403


async def test_a_signed_token_without_an_open_session_is_refused(
    client: Client, tenant: Tenant, settings: Settings
) -> None:
    now = int(time.time())
    claims = {
        "sub": str(tenant.admin_id),
        "pid": str(tenant.programme_id),
        "role": "admin",
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        "typ": "access",
    }
    forged = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    assert await can_read(client, forged) == 401
    without_session = jwt.encode(
        {k: v for k, v in claims.items() if k != "sid"}, settings.secret_key, algorithm="HS256"
    )
    assert await can_read(client, without_session) == 401


def _admin_token(tenant: Tenant, settings: Settings, *, session_id: str, expires: int) -> str:
    """An access token, signed with the API's key, naming the tenant's admin and ``session_id``, issued a minute
    before ``expires``."""
    claims = {
        "sub": str(tenant.admin_id),
        "pid": str(tenant.programme_id),
        "role": "admin",
        "sid": session_id,
        "jti": str(uuid.uuid4()),
        "iat": expires - 60,
        "exp": expires,
        "typ": "access",
    }
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


async def test_another_users_session_does_not_open_with_a_token_naming_it(
    client: Client, tenant: Tenant, settings: Settings
) -> None:
    counselor = await tokens(client, tenant.counselor_email, tenant.password)
    sid = jwt.decode(counselor["access_token"], settings.secret_key, algorithms=["HS256"])["sid"]
    token = _admin_token(tenant, settings, session_id=sid, expires=int(time.time()) + 60)
    assert await can_read(client, token) == 401


async def test_a_token_that_worked_is_refused_once_it_expires(
    client: Client, tenant: Tenant, settings: Settings
) -> None:
    # The API remembers tokens whose signature it verified; their expiry still counts on every request.
    admin = await tokens(client, tenant.admin_email, tenant.password)
    sid = jwt.decode(admin["access_token"], settings.secret_key, algorithms=["HS256"])["sid"]
    expires = int(time.time()) + 2
    short_lived = _admin_token(tenant, settings, session_id=sid, expires=expires)
    assert await can_read(client, short_lived) == 200
    await asyncio.sleep(max(0.0, expires + 0.1 - time.time()))
    assert await can_read(client, short_lived) == 401


# -- Throttling ---------------------------------------------------------------


async def test_five_failures_lock_the_email_out_even_with_the_right_password(client: Client, tenant: Tenant) -> None:
    for _ in range(5):
        assert (await login(client, tenant.admin_email, "wrong password!")).status_code == 401
    response = await login(client, tenant.admin_email, tenant.password)
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 429
    assert 890 <= int(response.headers["retry-after"]) <= 900
    # Only that address: the counselor still logs in.
    assert (await login(client, tenant.counselor_email, tenant.password)).status_code == 200


async def test_the_lockout_ends_after_fifteen_minutes(
    client: Client, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    for _ in range(5):
        await login(client, tenant.admin_email, "wrong password!")
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 429
    await owner.execute("UPDATE login_attempts SET at = at - interval '15 minutes 1 second'")
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 200


async def test_refused_attempts_do_not_extend_the_lockout(
    client: Client, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    for _ in range(5):
        await login(client, tenant.admin_email, "wrong password!")
    await owner.execute("UPDATE login_attempts SET at = at - interval '10 minutes'")
    for _ in range(5):
        assert (await login(client, tenant.admin_email, "wrong password!")).status_code == 429
    response = await login(client, tenant.admin_email, tenant.password)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) <= 300


async def test_failures_spread_beyond_the_window_do_not_lock(
    client: Client, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    for _ in range(4):
        await login(client, tenant.admin_email, "wrong password!")
    await owner.execute("UPDATE login_attempts SET at = at - interval '16 minutes'")
    for _ in range(4):
        await login(client, tenant.admin_email, "wrong password!")
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 200


async def test_a_success_clears_the_failures_before_it(client: Client, tenant: Tenant) -> None:
    for _ in range(4):
        await login(client, tenant.admin_email, "wrong password!")
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 200
    for _ in range(4):
        await login(client, tenant.admin_email, "wrong password!")
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 200


async def test_an_unknown_email_is_answered_like_a_known_one(client: Client) -> None:
    for _ in range(5):
        assert (await login(client, "nobody@nowhere.example", "wrong password!")).status_code == 401
    response = await login(client, "nobody@nowhere.example", "wrong password!")
    assert response.status_code == 429
    assert 890 <= int(response.headers["retry-after"]) <= 900


async def test_the_email_is_counted_whatever_its_case(client: Client, tenant: Tenant) -> None:
    for i in range(5):
        email = tenant.admin_email.upper() if i % 2 else f" {tenant.admin_email} "
        await login(client, email, "wrong password!")
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 429


async def test_concurrent_guesses_stop_at_the_limit(client: Client, tenant: Tenant, owner: asyncpg.Connection) -> None:
    answers = await asyncio.gather(*(login(client, tenant.admin_email, f"wrong password {i}") for i in range(15)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= 5
    assert statuses.count(401) + statuses.count(429) == 15
    checked = await owner.fetchval("SELECT count(*) FROM login_attempts WHERE outcome = 'failed'")
    assert checked <= 5


async def test_one_client_address_is_limited_across_emails(client: Client, tenant: Tenant) -> None:
    for i in range(20):
        assert (await login(client, f"guess{i}@nowhere.example", "wrong password!")).status_code == 401
    response = await login(client, tenant.admin_email, tenant.password)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["limit"] == "login_failures"  # which limit, as the report quota's 429 says its own


async def test_login_attempts_keep_no_email_address(client: Client, tenant: Tenant, owner: asyncpg.Connection) -> None:
    await login(client, tenant.admin_email, "wrong password!")
    rows = await owner.fetch("SELECT * FROM login_attempts")
    assert len(rows) == 1
    assert tenant.admin_email not in repr([dict(r) for r in rows])
    assert "email" not in {name for name in rows[0] if name != "email_hash"}


async def test_guesses_from_another_client_do_not_lock_the_owner_out(
    client: Client, tenant: Tenant, pool: asyncpg.Pool, settings: Settings
) -> None:
    key = settings.secret_key.encode()
    for i in range(7):
        account = await attempt_login(
            pool,
            email=tenant.admin_email,
            password="wrong password!",
            client_address=f"203.0.113.{i % 2}",
            policy=LoginPolicy(),
            key=key,
        )
        assert account is None
    with pytest.raises(LoginThrottled):  # that client is locked out of this address
        await attempt_login(
            pool,
            email=tenant.admin_email,
            password=tenant.password,
            client_address="203.0.113.0",
            policy=LoginPolicy(max_failures_per_email=3),
            key=key,
        )
    started = time.monotonic()
    assert (await login(client, tenant.admin_email, tenant.password)).status_code == 200  # the owner's own client
    assert time.monotonic() - started >= SLOWDOWN_STEP  # slowed down by the guesses at the address
