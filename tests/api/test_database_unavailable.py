"""Whatever the driver raises when the database is not there right now is answered 503 with Retry-After, not 500.

PostgreSQL shutting down, restarting, refusing connections or out of slots,
and the connection or the pool gone under a request: the client may send the
very same request again (event ids make a retried append safe). A 500 would
say the request itself is at fault.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from infra.settings import Settings
from services.api.app import create_app
from services.api.problems import exception_handlers
from tests.support import Tenant

Client = AsyncTestClient  # type: ignore[type-arg]

UNAVAILABLE: list[BaseException] = [
    # What asyncpg raised on the login check while PostgreSQL shut down (the fault run of issue 13).
    asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.InterfaceError("pool is closed"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.PostgresConnectionError("connection failure"),
    asyncpg.ConnectionFailureError("connection failure"),
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError(113, "No route to host"),
    TimeoutError(),
]
# Driver errors that say the request or the code is wrong: retrying the same request would not help.
NOT_UNAVAILABLE: list[BaseException] = [
    asyncpg.InterfaceError("the server expects 1 argument for this query, 2 were passed"),
    asyncpg.DataError("invalid input for query argument $1"),
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
]


def _raising(error: BaseException) -> Litestar:
    @get("/fails", sync_to_thread=False)
    def fails() -> None:
        raise error

    return Litestar(route_handlers=[fails], exception_handlers=exception_handlers())


@pytest.mark.parametrize("error", UNAVAILABLE, ids=lambda e: f"{type(e).__name__}:{e}")
async def test_a_database_that_is_not_there_right_now_is_503_with_retry_after(error: BaseException) -> None:
    async with AsyncTestClient(app=_raising(error)) as client:
        response = await client.get("/fails")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "The database is unavailable"


@pytest.mark.parametrize("error", NOT_UNAVAILABLE, ids=lambda e: f"{type(e).__name__}:{e}")
async def test_a_driver_error_that_a_retry_would_not_mend_is_not_503(error: BaseException) -> None:
    async with AsyncTestClient(app=_raising(error)) as client:
        response = await client.get("/fails")
    assert response.status_code == 500, response.text
    assert "retry-after" not in response.headers


async def test_the_login_check_and_the_session_check_answer_503_when_the_pool_is_gone(
    settings: Settings, tenant: Tenant
) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        login = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # As when the process shuts down under requests still arriving (on the app's own event loop).
        client.blocking_portal.call(client.app.state.pool.terminate)
        answers = [
            await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password}),
            await client.get("/v1/projections", headers=headers),
            await client.get("/health/ready"),
        ]
    assert [a.status_code for a in answers] == [503, 503, 503], [a.text for a in answers]
    assert all(a.headers["retry-after"] == "1" for a in answers)


async def _terminate_a_backend_waiting_for_a_lock(database_url: str, within: float = 10) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            pid = await conn.fetchval(
                """SELECT pid FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"""
            )
            if pid is not None:
                await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
                return int(pid)
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    raise AssertionError("no request waited for the lock")


async def test_a_login_whose_connection_is_terminated_under_it_is_503(
    client: Client, owner: asyncpg.Connection, tenant: Tenant, settings: Settings
) -> None:
    async with owner.transaction():
        # The login check writes its attempt first: held up here, its backend is terminated mid-request.
        await owner.execute("LOCK TABLE login_attempts IN ACCESS EXCLUSIVE MODE")
        # The test client blocks this event loop until it has the answer: the terminator runs in a thread.
        terminator = asyncio.get_running_loop().run_in_executor(
            None, asyncio.run, _terminate_a_backend_waiting_for_a_lock(settings.database_url)
        )
        login = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
        await terminator
    assert login.status_code == 503, login.text
    assert login.headers["retry-after"] == "1"
    # The pool replaces the dead connection: the next login goes through.
    again = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
    assert again.status_code == 200, again.text


def test_every_operation_that_answers_problems_documents_the_503(settings: Settings) -> None:
    paths = create_app(settings).openapi_schema.to_schema()["paths"]
    missing = [
        f"{method.upper()} {path}"
        for path, item in paths.items()
        for method, operation in item.items()
        if "401" in operation.get("responses", {})
        and "application/problem+json" not in operation["responses"].get("503", {}).get("content", {})
    ]
    assert missing == []


async def test_a_statement_past_the_timeout_is_503_naming_the_limit(settings: Settings) -> None:
    """A read the database stops at its statement timeout is 503 with Retry-After, not a bare 500."""

    @get("/slow")
    async def slow() -> None:
        conn = await asyncpg.connect(settings.database_url, server_settings={"statement_timeout": "50"})
        try:
            await conn.execute("SELECT pg_sleep(2)")
        finally:
            await conn.close()

    app = Litestar(route_handlers=[slow], exception_handlers=exception_handlers())
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/slow")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["title"] == "The request took too long"
    assert body["limit"] == "statement_timeout"
