"""Liveness, readiness, Prometheus metrics scraped while events are appended and projected, JSON request logs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from infra.settings import Settings
from services.api.app import create_app
from services.observability import JsonFormatter
from tests.support import Api, Tenant, contact_added, envelope, new_id, project_everything

Client = AsyncTestClient  # type: ignore[type-arg]
TOKEN = "metrics-token-for-the-test"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def ops_client(settings: Settings) -> AsyncIterator[Client]:
    """The API with a metrics token (the test client's address is no IP address an allow-list could name)."""
    configured = msgspec.structs.replace(settings, metrics_token=TOKEN, ready_max_lag=2)
    async with AsyncTestClient(app=create_app(configured), timeout=60) as test_client:
        yield test_client


def _sample(text: str, metric: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != metric:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


async def _caught_up(client: Client, worker_pool: asyncpg.Pool) -> str:
    """Project until no projection lags (another test's open transaction can hold the horizon a moment); the scrape."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        await project_everything(worker_pool)
        text = await _scrape(client)
        lags = [line for line in text.splitlines() if line.startswith("peoplelinks_projection_lag_events{")]
        if lags and all(line.endswith(" 0.0") for line in lags):
            return text
        assert asyncio.get_running_loop().time() < deadline, text
        await asyncio.sleep(0.2)


async def _scrape(client: Client) -> str:
    response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_liveness_answers_under_both_names(client: Client) -> None:
    for path in ("/health/live", "/health"):
        response = await client.get(path)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_metrics_show_the_append_counter_and_the_lag_moving_then_the_lag_closing(
    ops_client: Client, tenant: Tenant, worker_pool: asyncpg.Pool
) -> None:
    api = await Api.login(ops_client, tenant.admin_email, tenant.password)
    participant = await api.new_participant(tenant.counselor_id)
    before = await _caught_up(ops_client, worker_pool)
    appended_before = _sample(before, "peoplelinks_events_appended_total")

    events = [envelope("job_search_objective_set", {"target_titles": ["Cook"]}) for _ in range(3)]
    answer = await api.record("participant", participant, {"events": events})
    assert answer.status_code == 201, answer.text

    during = await _scrape(ops_client)
    assert _sample(during, "peoplelinks_events_appended_total") == appended_before + 3
    assert _sample(during, "peoplelinks_projection_lag_events", name="read_models") == 3
    head = _sample(during, "peoplelinks_store_head_position")
    assert head == _sample(before, "peoplelinks_store_head_position") + 3

    after = await _caught_up(ops_client, worker_pool)
    # Latency by route template: the participant's id is in no series.
    route = "/v1/participants/{record_id}/events"
    assert (
        _sample(after, "peoplelinks_http_request_duration_seconds_count", method="POST", route=route, status="201") >= 2
    )
    assert participant not in after


async def test_metrics_need_an_allowed_address_or_the_token(ops_client: Client, client: Client) -> None:
    assert (await ops_client.get("/metrics")).status_code == 403
    assert (await ops_client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 403
    # No token configured: only the allowed networks (loopback by default), which the test client is not.
    assert (await client.get("/metrics", headers=SCRAPE)).status_code == 403


async def test_readiness_checks_postgres_redis_and_the_projection_lag(
    ops_client: Client, tenant: Tenant, worker_pool: asyncpg.Pool
) -> None:
    await _caught_up(ops_client, worker_pool)
    ready = await ops_client.get("/health/ready")
    body = ready.json()
    assert ready.status_code == 200 and body["status"] == "ready", body
    assert (body["postgres"], body["redis"], body["max_lag"]) == ("ok", "ok", 2)
    assert {p["name"] for p in body["projections"]} >= {"read_models"} and all(
        p["lag"] == 0 for p in body["projections"]
    )

    api = await Api.login(ops_client, tenant.admin_email, tenant.password)
    for _ in range(3):
        await api.new_contact()
    behind = await ops_client.get("/health/ready")
    assert behind.status_code == 200, "a lagging projection is the same for every replica: served, degraded"
    assert behind.json()["status"] == "degraded"
    assert all(p["lag"] >= 3 for p in behind.json()["projections"])


async def test_readiness_without_redis_is_degraded_not_unavailable(settings: Settings) -> None:
    gone = msgspec.structs.replace(settings, redis_url="redis://127.0.0.1:9/0")  # the discard port: nobody there
    async with AsyncTestClient(app=create_app(gone), timeout=60) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert (ready.json()["status"], ready.json()["redis"], ready.json()["postgres"]) == ("degraded", "down", "ok")


@contextlib.contextmanager
def _request_log() -> Iterator[io.StringIO]:
    """The request log lines (``peoplelinks.http``) written within the block, as JSON lines."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("peoplelinks.http")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _request_counts(method: str, route: str, statuses: tuple[str, ...]) -> dict[str, float]:
    """The latency series' request counts of this process, by status."""
    name = "peoplelinks_http_request_duration_seconds_count"
    labels = {"method": method, "route": route}
    return {s: REGISTRY.get_sample_value(name, {**labels, "status": s}) or 0.0 for s in statuses}


async def test_each_request_logs_one_json_line_with_its_id_and_route_template_and_no_ids(
    client: Client, tenant: Tenant
) -> None:
    with _request_log() as captured:
        api = await Api.login(client, tenant.admin_email, tenant.password)
        participant = await api.new_participant(tenant.counselor_id)
        timeline = await api.get(f"/v1/participants/{participant}/timeline")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    [line] = [line for line in lines if line.get("request_id") == timeline.headers["x-request-id"]]
    assert line["level"] == "info" and line["logger"] == "peoplelinks.http"
    assert line["message"].startswith("GET /v1/participants/{participant_id}/timeline 200 ")
    assert participant not in captured.getvalue() and tenant.admin_email not in captured.getvalue()


async def test_a_request_refused_before_its_route_is_logged_with_its_answer_status(client: Client) -> None:
    """Authentication refuses outside the route's handlers: the log line and the latency series say 401, not 500."""
    before = _request_counts("GET", "/v1/follow-ups", ("401", "500"))
    with _request_log() as captured:
        refused = await client.get("/v1/follow-ups", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    [line] = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert line["message"].startswith("GET /v1/follow-ups 401 ")
    after = _request_counts("GET", "/v1/follow-ups", ("401", "500"))
    assert (after["401"] - before["401"], after["500"] - before["500"]) == (1.0, 0.0)


async def test_events_recorded_without_a_correlation_id_carry_the_request_id(
    api: Api, owner: asyncpg.Connection
) -> None:
    """The request's X-Request-ID is the events' correlation and causation id: they lead back to its log line."""
    contact = new_id()
    response = await api.record("contact", contact, contact_added())
    assert response.status_code == 201, response.text
    row = await owner.fetchrow(
        "SELECT metadata->>'correlation_id' AS correlation, metadata->>'causation_id' AS causation FROM events"
        " WHERE stream_id = $1",
        f"contact-{contact}",
    )
    assert row is not None
    assert row["correlation"] == row["causation"] == response.headers["x-request-id"]
