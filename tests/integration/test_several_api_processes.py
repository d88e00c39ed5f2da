"""Several API processes over one database answer the same figures: none keeps a programme between requests.

Two separate ``peoplelinks api`` processes (one with ``--workers 4``) serve the
same database. Every read, asked through either, gives the same body and hash;
after an append through one of them is projected, the other answers the new
figures at once (a process that kept the programme in memory would not).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from infra.event_store import EventStore, Metadata
from infra.settings import Settings
from services.recording import Recorder
from tests.generators import programme_log
from tests.integration.processes import serve_api, stop, wait_ready
from tests.support import Tenant, envelope, incoming, project_everything, subject_keys

QUERIES = (
    "/v1/reports/outcomes?from=2025-01-01&to=2026-06-30&as_of=2026-09-30",
    "/v1/dashboards/response-rates?from=2025-01-01&to=2026-06-30&as_of=2026-09-30&group_by=channel",
    "/v1/dashboards/response-rates?from=2025-01-01&to=2026-06-30&as_of=2026-09-30&group_by=week",
    "/v1/dashboards/funnel?as_of=2026-09-30",
    "/v1/follow-ups?as_of=2026-09-30",
)


@pytest.fixture
def two_servers(settings: Settings) -> Iterator[list[str]]:
    """A ``--workers 4`` API process and a single one, on the test's database, with no report quota.

    The test asks for about a hundred reports in seconds, which the quota (infra/report_quota.py) would refuse.
    """
    settings = msgspec.structs.replace(settings, report_requests_per_minute=0)
    started = [serve_api(settings, workers=4), serve_api(settings)]
    try:
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            stop(process)


async def _login(base_url: str, tenant: Tenant) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base_url, timeout=30)
    await wait_ready(client)
    answer = await client.post("/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return client


async def _answers(clients: list[httpx.AsyncClient], path: str, times: int) -> list[dict[str, Any]]:
    """``path`` asked ``times`` times through each client, each on a fresh connection (any uvicorn worker)."""
    answers = []
    for client in clients:
        for _ in range(times):
            answer = await client.get(path, headers={"Connection": "close"})
            assert answer.status_code == 200, (path, answer.text)
            answers.append(answer.json())
    return answers


async def test_two_api_processes_one_with_four_workers_answer_identical_figures_and_hashes(
    two_servers: list[str], pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    log = programme_log(random.Random(31), [str(tenant.counselor_id)], participants=20, actions=14)
    await Recorder(EventStore(pool), keys=subject_keys()).record(
        tenant.programme_id, [incoming(line) for line in log], Metadata(programme_id=tenant.programme_id)
    )
    await project_everything(worker_pool)
    clients = [await _login(url, tenant) for url in two_servers]
    try:
        participant = next(line for line in log if line["type"] == "participant_enrolled")["stream_id"]
        participant_id = participant.split("-", 1)[1]
        paths = [
            *QUERIES,
            f"/v1/participants/{participant_id}/timeline?as_of=2026-09-30",
            f"/v1/participants/{participant_id}/relationships?as_of=2026-09-30",
            f"/v1/participants/{participant_id}/pipeline?as_of=2026-09-30",
        ]
        for path in paths:
            answers = await _answers(clients, path, times=6)
            assert all(answer == answers[0] for answer in answers), path

        # The outcome report at its position, then an outreach recorded through the first process and
        # projected: the second process answers it at once, and still answers the old position unchanged.
        before = (await clients[1].get(QUERIES[0])).json()
        contact_id = next(line for line in log if line["type"] == "contact_added")["stream_id"].split("-", 1)[1]
        outreach = envelope(
            "outreach_sent",
            {
                "outreach_id": str(uuid.uuid4()),
                "contact_id": contact_id,
                "channel": "email",
                "purpose": "ask_for_referral",
            },
            occurred_at="2026-03-02T15:00:00Z",
        )
        recorded = await clients[0].post(f"/v1/participants/{participant_id}/events", json=outreach)
        assert recorded.status_code == 201, recorded.text
        await project_everything(worker_pool)
        after = (await clients[1].get(QUERIES[0])).json()
        assert after["global_position"] > before["global_position"]
        assert after["hash"] != before["hash"]
        again = await _answers(clients, f"{QUERIES[0]}&as_of_position={before['global_position']}", times=3)
        assert all(answer == before for answer in again)
    finally:
        for client in clients:
            await client.aclose()
