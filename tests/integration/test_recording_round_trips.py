"""What one single-event POST asks of PostgreSQL, counted: each statement is a round trip on the request's path."""

from __future__ import annotations

from typing import Any

from infra.db import create_app_pool
from infra.settings import Settings
from services.api.app import create_app
from tests.support import Api, Tenant, envelope, in_this_loop, new_id


async def test_a_single_event_post_of_the_programme_a_connection_serves_makes_three_statements(
    settings: Settings, tenant: Tenant
) -> None:
    # One connection, so that every statement of every request is seen by the one logger.
    pool = await create_app_pool(settings, min_size=1, max_size=1)
    statements: list[str] = []

    def log(record: Any) -> None:
        statements.append(" ".join(record.query.split())[:80])

    async with pool.acquire() as conn:
        conn.add_query_logger(log)
    try:
        async with in_this_loop(create_app(settings, pool=pool)) as client:
            api = await Api.login(client, tenant.admin_email, tenant.password)  # type: ignore[arg-type]
            contact = await api.new_contact()
            participant = await api.new_participant(tenant.counselor_id)
            event = envelope(
                "outreach_sent",
                {"outreach_id": new_id(), "contact_id": contact, "channel": "email", "purpose": "introduction"},
            )
            statements.clear()
            response = await api.record("participant", participant, event)
            assert response.status_code == 201, response.text
    finally:
        await pool.close()
    # The session lookup, the contact's existence, the append: no setting of the programme (the connection acts
    # for it already) and no reset (a tenant block's connection needs none).
    assert len(statements) == 3, statements
    assert "peoplelinks_session_user" in statements[0]
    assert not any("set_config" in s or "RESET" in s for s in statements), statements
