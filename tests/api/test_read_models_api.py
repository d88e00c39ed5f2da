"""Participant read models, the follow-up queue and the funnel through the API, with counselor scope."""

from __future__ import annotations

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from infra.event_store import EventStore
from projections.registry import PROJECTIONS
from projections.runner import catch_up
from tests.support import Api, Tenant, envelope, new_id


@pytest.fixture
async def counselor(client: AsyncTestClient, tenant: Tenant) -> Api:  # type: ignore[type-arg]
    return await Api.login(client, tenant.counselor_email, tenant.password)


@pytest.fixture
async def other_counselor(client: AsyncTestClient, api: Api) -> Api:  # type: ignore[type-arg]
    email = f"c2-{new_id()[:8]}@example.org"
    assert (await api.post("/v1/users", {"email": email, "role": "counselor", "password": "p" * 12})).status_code == 201
    return await Api.login(client, email, "p" * 12)


async def _project(worker_pool: asyncpg.Pool) -> None:
    for projection, table in PROJECTIONS.values():
        await catch_up(EventStore(worker_pool), projection, table=table)


@pytest.fixture
async def participant(api: Api, tenant: Tenant, worker_pool: asyncpg.Pool) -> tuple[str, str]:
    contact = await api.new_contact()
    participant = await api.new_participant(tenant.counselor_id)
    first, second = new_id(), new_id()
    events = [
        envelope(
            "outreach_sent",
            {"outreach_id": first, "contact_id": contact, "channel": "email", "purpose": "introduction"},
            occurred_at="2026-03-02T10:00:00Z",
        ),
        envelope(
            "outreach_sent",
            {
                "outreach_id": second,
                "contact_id": contact,
                "channel": "email",
                "purpose": "follow_up",
                "follow_up_of": first,
            },
            occurred_at="2026-03-10T10:00:00Z",
        ),
        envelope(
            "meeting_held",
            {"meeting_id": new_id(), "contact_id": contact, "format": "in_person", "kind": "coffee"},
            occurred_at="2026-03-12T10:00:00Z",
        ),
    ]
    assert (await api.record("participant", participant, {"events": events})).status_code == 201
    await _project(worker_pool)
    return participant, contact


async def test_two_unanswered_emails_suggest_a_phone_call(api: Api, participant: tuple[str, str]) -> None:
    participant_id, _ = participant
    queue = (await api.get("/v1/follow-ups?as_of=2026-03-20")).json()
    items = [i for i in queue["items"] if i["participant_id"] == participant_id and i["kind"] == "follow_up"]
    assert len(items) == 1
    assert items[0]["suggested_channel"] == "phone"
    assert items[0]["due_on"] == "2026-03-17"


async def test_relationship_stage_and_timeline(api: Api, participant: tuple[str, str]) -> None:
    participant_id, contact = participant
    body = (await api.get(f"/v1/participants/{participant_id}/relationships?as_of=2026-03-20")).json()
    [relationship] = body["relationships"]
    assert relationship["contact_id"] == contact
    assert relationship["stage"] == "met"
    assert [e["kind"] for e in relationship["timeline"]] == ["outreach_sent", "outreach_sent", "meeting_held"]
    timeline = (await api.get(f"/v1/participants/{participant_id}/timeline?as_of=2026-03-20")).json()
    assert len(timeline["entries"]) >= 3
    pipeline = (await api.get(f"/v1/participants/{participant_id}/pipeline?as_of=2026-03-20")).json()
    assert pipeline["pipeline"]["first_outreach_on"] == "2026-03-02"
    assert pipeline["pipeline"]["first_meeting_on"] == "2026-03-12"
    funnel = (await api.get("/v1/dashboards/funnel?as_of=2026-03-20")).json()["funnel"]
    assert funnel["enrolled"] == 1 and funnel["outreach"] == 1 and funnel["meeting"] == 1


async def test_a_counselor_reaches_only_their_own_participants(
    counselor: Api, other_counselor: Api, participant: tuple[str, str]
) -> None:
    participant_id, contact = participant
    for path in ("events", "timeline", "relationships", "pipeline"):
        assert (await counselor.get(f"/v1/participants/{participant_id}/{path}")).status_code == 200, path
        assert (await other_counselor.get(f"/v1/participants/{participant_id}/{path}")).status_code == 403, path
    outreach = envelope(
        "outreach_sent", {"outreach_id": new_id(), "contact_id": contact, "channel": "phone", "purpose": "follow_up"}
    )
    assert (await other_counselor.record("participant", participant_id, outreach)).status_code == 403
    batch = {"events": [{"stream_id": f"participant-{participant_id}", **outreach}]}
    assert (await other_counselor.post("/v1/events:batch", batch)).status_code == 403
    assert (await counselor.record("participant", participant_id, outreach)).status_code == 201
    own = (await other_counselor.get("/v1/follow-ups?as_of=2026-03-20")).json()
    assert own["items"] == []


async def test_a_reassigned_participant_moves_to_the_new_counselor(
    api: Api,
    counselor: Api,
    other_counselor: Api,
    participant: tuple[str, str],
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    participant_id, _ = participant
    me = await other_counselor.get("/v1/follow-ups")
    assert me.status_code == 200
    users = await api.post(
        "/v1/users", {"email": f"c3-{new_id()[:8]}@example.org", "role": "counselor", "password": "p" * 12}
    )
    new_counselor = users.json()["user_id"]
    assigned = envelope("counselor_assigned", {"counselor_id": new_counselor}, occurred_at="2026-03-15T10:00:00Z")
    assert (await api.record("participant", participant_id, assigned)).status_code == 201
    assert (await counselor.get(f"/v1/participants/{participant_id}/events")).status_code == 403


async def test_another_programme_gets_not_found(
    client: AsyncTestClient,
    other_tenant: Tenant,
    participant: tuple[str, str],  # type: ignore[type-arg]
) -> None:
    participant_id, _ = participant
    stranger = await Api.login(client, other_tenant.admin_email, other_tenant.password)
    for path in ("events", "timeline", "relationships", "pipeline"):
        assert (await stranger.get(f"/v1/participants/{participant_id}/{path}")).status_code == 404, path
