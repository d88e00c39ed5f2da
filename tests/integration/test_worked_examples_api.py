"""The worked examples of reports.md, loaded through the real API and projected by the real arq worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.worker import Worker
from litestar.testing import AsyncTestClient

from infra.accounts import hash_password
from infra.db import create_worker_pool
from infra.event_store import EventStore
from infra.settings import Settings
from services.api.app import create_app
from services.worker.app import worker_kwargs
from tests.support import Api, Tenant

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "spec" / "examples"
NAMES = sorted(p.name.removesuffix(".jsonl") for p in EXAMPLES.glob("*.jsonl"))


def _compare_cells(cells: Any, expected: Any, where: str) -> None:
    """Every bare expected value against the API's cell at the same place."""
    if isinstance(expected, dict):
        assert set(cells) == set(expected), where
        for key, value in expected.items():
            _compare_cells(cells[key], value, f"{where}.{key}")
        return
    assert cells["suppressed"] is False, where
    _close(cells["value"], expected, where)


def _close(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, float) and actual is not None:
        assert math.isclose(actual, expected, rel_tol=0, abs_tol=1e-9), f"{where}: {actual} != {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EXAMPLES / f"{name}.jsonl").read_text().splitlines() if line.strip()]


async def _load_example(api: Api, owner: asyncpg.Connection, tenant: Tenant, name: str) -> list[dict[str, Any]]:
    lines = _lines(name)
    counselors = {e["data"]["counselor_id"] for e in lines if "counselor_id" in e["data"]}
    for counselor in counselors:
        await owner.execute(
            """INSERT INTO users (user_id, programme_id, email, role, password_hash)
               VALUES ($1, $2, $3, 'counselor', $4)""",
            uuid.UUID(counselor),
            tenant.programme_id,
            f"{counselor}@example.org",
            await hash_password("x" * 12),
        )
    response = await api.post("/v1/events:batch", {"events": lines})
    assert response.status_code == 201, response.text
    assert response.json()["global_position"] == len(lines)
    return lines


async def _horizon_passes_every_event(owner: asyncpg.Connection, within: float = 30.0) -> None:
    """Wait until no transaction older than the newest event is open anywhere in the cluster.

    Another test run on the same server may hold the horizon back for seconds, longer than the worker's one
    job waits for it (catch_up settles for 1 s); the sweep would apply the events a moment later, but the
    burst worker runs that one job only.
    """
    deadline = time.monotonic() + within
    while await owner.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE tx_id >= pg_snapshot_xmin(pg_current_snapshot()))"
    ):
        assert time.monotonic() < deadline, "the horizon did not pass the appended events"
        await asyncio.sleep(0.01)


async def _drain_with_burst_worker(settings: Settings) -> None:
    pool = await create_worker_pool(settings, min_size=1, max_size=2)
    try:
        worker = Worker(**{**worker_kwargs(settings, EventStore(pool)), "burst": True, "poll_delay": 0})
        await worker.main()
        await worker.close()
        assert worker.jobs_complete >= 1, "the append did not wake the worker"
    finally:
        await pool.close()


@pytest.mark.parametrize("name", NAMES)
async def test_worked_example_response_rates_through_api_and_worker(
    name: str, owner: asyncpg.Connection, tenant: Tenant, settings: Settings
) -> None:
    # The logs are dated; the append rules judge "not in the future" against the log's own last moment.
    latest = max(dt.datetime.fromisoformat(e["occurred_at"]) for e in _lines(name))
    async with AsyncTestClient(app=create_app(settings, clock=lambda: latest), timeout=60) as client:
        api = await Api.login(client, tenant.admin_email, tenant.password)
        await _check_example(name, api, owner, tenant, settings)


async def _check_example(name: str, api: Api, owner: asyncpg.Connection, tenant: Tenant, settings: Settings) -> None:
    expected = json.loads((EXAMPLES / f"{name}.expected.json").read_text())
    lines = await _load_example(api, owner, tenant, name)
    await _horizon_passes_every_event(owner)
    await _drain_with_burst_worker(settings)

    status = (await api.get("/v1/projections")).json()
    assert status["head"] == len(lines)
    assert all(p["checkpoint"] == len(lines) and p["lag"] == 0 for p in status["projections"]), status

    params = expected["params"]
    query = f"from={params['from']}&to={params['to']}&as_of={params['as_of']}"
    for group_by, groups in expected["response_rates"].items():
        response = await api.get(f"/v1/dashboards/response-rates?{query}&group_by={group_by}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["global_position"] == len(lines)
        assert set(body["groups"]) == set(groups), f"{name} {group_by}"
        for group, row in groups.items():
            for figure, value in row.items():
                cell = body["groups"][group][figure]
                assert cell["suppressed"] is False
                _close(cell["value"], value, f"{name} {group_by}={group} {figure}")

    report = await api.get(f"/v1/reports/outcomes?{query}")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["global_position"] == len(lines)
    assert body["hash"].startswith("sha256:")
    _compare_cells(body["figures"], expected["outcome_report"], name)
