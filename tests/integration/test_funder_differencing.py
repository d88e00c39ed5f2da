"""The attacker with a funder's login: every report a funder can get, differenced and summed, gives away no small count.

Each answer follows the suppression rules; the attack is on pairs. Two
answers whose cohorts are nested (``from=2025-01-06`` and ``from=2025-01-07``)
give, by the difference of any count, the count of the few people between
them; two answers over the same cohort at another ``as_of`` or position give
the change of a few. Funders therefore get released quarters only
(docs/security.md). The attack below is first shown to work on what funders
could get before (funder-suppressed answers for any ``from``), so that its
finding nothing on the releases means something.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from domain.reporting.scope import ReportParams
from infra.accounts import create_user
from infra.event_store import EventStore, Metadata
from infra.settings import Settings
from projections import read_models
from projections.outcome_reports import outcome_body
from projections.runner import catch_up
from services.recording import Recorder
from tests.generators import programme_log
from tests.support import Api, Tenant, incoming, subject_keys

QUARTERS = ("2025-Q1", "2025-Q2", "2025-Q3")
GROUPINGS = ("", "channel", "purpose", "attempt", "cohort", "week")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A report quota the attacker never reaches: it would only slow the attack down, and this is about its answers."""
    return msgspec.structs.replace(settings, report_request_burst=1_000)


def _counts(tree: Any, path: str = "") -> Iterator[tuple[str, int | None]]:
    """Every count cell of an answer, by its path: (path, value or None when suppressed). Rates are not counts."""
    if isinstance(tree, dict) and set(tree) == {"value", "suppressed"}:
        value = tree["value"]
        if tree["suppressed"] or (isinstance(value, int) and not isinstance(value, bool)):
            yield path, None if tree["suppressed"] else value
        return
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _counts(value, f"{path}/{key}")


def _small(value: int) -> bool:
    return 1 <= value <= 10


def _nested(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether one answer's people are among the other's (the same period at another as_of or position included)."""
    a_in_b = b["from"] <= a["from"] and a["to"] <= b["to"]
    b_in_a = a["from"] <= b["from"] and b["to"] <= a["to"]
    return a_in_b or b_in_a


def small_counts_derived(answers: list[dict[str, Any]]) -> list[str]:
    """What an attacker finds: differences across nested answers, sums across any, that are a count from 1 to 10."""
    found = []
    cells = [dict(_counts(answer)) for answer in answers]
    for (i, a), (j, b) in itertools.combinations(enumerate(answers), 2):
        if a["kind"] != b["kind"]:
            continue
        for path in cells[i].keys() & cells[j].keys():
            x, y = cells[i][path], cells[j][path]
            if x is None or y is None:
                continue
            if _nested(a, b) and _small(abs(x - y)):
                found.append(f"{path}: {x} - {y} ({a['from']}..{a['to']} vs {b['from']}..{b['to']})")
            if _small(x + y):
                found.append(f"{path}: {x} + {y}")
    return found


async def _programme(pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant) -> list[dict[str, Any]]:
    log = programme_log(random.Random(42), [str(tenant.counselor_id)], participants=70, actions=10)
    await Recorder(EventStore(pool), keys=subject_keys()).record(
        tenant.programme_id, [incoming(line) for line in log], Metadata(programme_id=tenant.programme_id)
    )
    await catch_up(
        EventStore(worker_pool), read_models.ReadModelsProjection(), table=read_models.LIVE_PREFIX, settle_seconds=30
    )
    return log


async def test_the_attack_finds_small_counts_when_funders_choose_the_period(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    log = await _programme(pool, worker_pool, tenant)
    facts = await read_models.load_facts_of(worker_pool, tenant.programme_id, None)
    first = min(dt.date.fromisoformat(line["data"]["enrolled_on"]) for line in log if "enrolled_on" in line["data"])
    answers = []
    for start in (first, first + dt.timedelta(days=1)):
        params = ReportParams(from_date=start, to_date=dt.date(2025, 12, 31), as_of=dt.date(2026, 9, 30))
        body = outcome_body(
            facts, params, programme_id=tenant.programme_id, audience="funder", suppress_below=11, global_position=0
        )
        answers.append({**msgspec.to_builtins(body), "kind": "outcomes"})
    assert small_counts_derived(answers)  # the one person enrolled on the first day, at least


async def test_nothing_a_funder_can_get_differences_into_a_small_count(
    client: AsyncTestClient,  # type: ignore[type-arg]
    api: Api,
    owner: asyncpg.Connection,
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,
) -> None:
    await _programme(pool, worker_pool, tenant)
    for period in QUARTERS:
        released = await api.post("/v1/reports/releases", {"period": period, "as_of": "2026-09-30"})
        assert released.status_code == 201, released.text
    again = await api.post("/v1/reports/releases", {"period": "2025-Q1"})
    assert again.status_code == 409  # never released twice, at another as_of
    email = f"funder-{uuid.uuid4().hex[:6]}@example.org"
    await create_user(owner, programme_id=tenant.programme_id, email=email, role="funder", password="x" * 12)
    funder = await Api.login(client, email, "x" * 12)

    # Everything the attacker tries: each released period, none, and every parameter a funder might choose.
    tries = [""] + [f"period={p}" for p in QUARTERS]
    chosen = [
        "from=2025-01-06",
        "from=2025-01-07&to=2025-12-31",
        "to=2025-06-30",
        "as_of=2026-09-29",
        "period=2025-Q1&as_of=2026-09-29",
        "period=2025-Q1&as_of_position=1",
        "cohort=spring",
        "period=2024-Q4",
        "period=2025-H1",
    ]
    answers = []
    for query in tries + chosen:
        response = await funder.get(f"/v1/reports/outcomes?{query}")
        if query in chosen:
            assert response.status_code in (403, 404, 422), (query, response.text)
            continue
        assert response.status_code == 200, (query, response.text)
        answers.append({**response.json(), "kind": "outcomes"})
        for group in GROUPINGS:
            parts = [part for part in (query, f"group_by={group}" if group else "") if part]
            dashboard = await funder.get(f"/v1/dashboards/response-rates?{'&'.join(parts)}")
            assert dashboard.status_code == 200, dashboard.text
            answers.append({**dashboard.json(), "kind": f"rates:{group}"})
        for query_chosen in chosen:
            refused = await funder.get(f"/v1/dashboards/response-rates?{query_chosen}")
            assert refused.status_code in (403, 404, 422), (query_chosen, refused.text)

    assert {a["from"] for a in answers if a["kind"] == "outcomes"} == {"2025-01-01", "2025-04-01", "2025-07-01"}
    assert any(value is None for a in answers for _, value in _counts(a))  # suppression is at work
    assert [v for a in answers for _, v in _counts(a) if v is not None and _small(v)] == []
    assert small_counts_derived(answers) == []
