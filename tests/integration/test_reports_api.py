"""The outcome report through the API: reproducible by position, suppressed for funders."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import uuid
from typing import Any

import asyncpg
import openpyxl
import pypdf
from litestar.testing import AsyncTestClient

from infra.accounts import create_user
from infra.event_store import EventStore, Metadata
from infra.export_jobs import render_pending
from projections.kept_reports import keep_monthly_reports
from services.exports import render
from services.recording import Recorder
from tests.generators import programme_log
from tests.support import Api, Tenant, envelope, incoming, project_everything, subject_keys

QUERY = "from=2025-01-01&to=2026-06-30&as_of=2026-09-30"


async def _project(pool: asyncpg.Pool) -> None:
    await project_everything(pool)


async def _seed(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant, seed: int, participants: int
) -> list[dict[str, Any]]:
    log = programme_log(random.Random(seed), [str(tenant.counselor_id)], participants=participants, actions=14)
    await Recorder(EventStore(pool), keys=subject_keys()).record(
        tenant.programme_id, [incoming(line) for line in log], Metadata(programme_id=tenant.programme_id)
    )
    await _project(worker_pool)
    return log


async def test_a_report_asked_again_by_its_position_is_identical_after_late_events_and_voids(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    log = await _seed(pool, worker_pool, tenant, seed=11, participants=25)
    first = (await api.get(f"/v1/reports/outcomes?{QUERY}")).json()
    assert first["figures"]["enrolled"]["value"] > 0

    # Late corrections: a void of a hire, and a late-recorded hire dated inside the period.
    hires = [line for line in log if line["type"] == "hired"]
    participant = hires[0]["stream_id"].split("-", 1)[1]
    void = envelope(
        "entry_voided",
        {"voided_event_id": hires[0]["event_id"], "reason": "entered twice"},
        occurred_at="2026-07-01T10:00:00Z",
    )
    assert (await api.record("participant", participant, void)).status_code == 201
    other = next(
        line for line in log if line["type"] == "participant_enrolled" and line["stream_id"] != hires[0]["stream_id"]
    )
    employer = next(line for line in log if line["type"] == "employer_added")["stream_id"].split("-", 1)[1]
    late_hire = envelope(
        "hired",
        {
            "job_id": str(uuid.uuid4()),
            "employer_id": employer,
            "title": "Cook",
            "start_date": "2026-03-02",
            "source": "referral",
        },
        occurred_at="2026-03-01T10:00:00Z",
    )
    answer = await api.record("participant", other["stream_id"].split("-", 1)[1], late_hire)
    assert answer.status_code in (201, 422), answer.text  # 422 only if that participant had exited
    await _project(worker_pool)

    fresh = (await api.get(f"/v1/reports/outcomes?{QUERY}")).json()
    assert fresh["global_position"] > first["global_position"]
    assert fresh["hash"] != first["hash"]
    again = (await api.get(f"/v1/reports/outcomes?{QUERY}&as_of_position={first['global_position']}")).json()
    assert again == first


async def test_a_position_the_read_model_has_not_reached_is_refused(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    await _seed(pool, worker_pool, tenant, seed=12, participants=3)
    report = (await api.get(f"/v1/reports/outcomes?{QUERY}")).json()
    ahead = await api.get(f"/v1/reports/outcomes?{QUERY}&as_of_position={report['global_position'] + 1}")
    assert ahead.status_code == 409
    assert ahead.json()["errors"][0]["field"] == "as_of_position"


async def test_funders_see_suppressed_figures_and_no_counselor_breakdown(
    client: AsyncTestClient,
    api: Api,
    owner: asyncpg.Connection,
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,  # type: ignore[type-arg]
) -> None:
    await _seed(pool, worker_pool, tenant, seed=13, participants=30)
    email = f"funder-{uuid.uuid4().hex[:6]}@example.org"
    await create_user(owner, programme_id=tenant.programme_id, email=email, role="funder", password="x" * 12)
    funder = await Api.login(client, email, "x" * 12)
    assert (await funder.get("/v1/reports/outcomes")).status_code == 404  # nothing released yet
    released = await api.post("/v1/reports/releases", {"period": "2025-Q1", "as_of": "2026-09-30"})
    assert released.status_code == 201, released.text
    staff_view = (await api.get("/v1/reports/outcomes?from=2025-01-01&to=2025-03-31&as_of=2026-09-30")).json()
    funder_view = (await funder.get("/v1/reports/outcomes?period=2025-Q1")).json()
    assert (funder_view["from"], funder_view["to"], funder_view["as_of"]) == ("2025-01-01", "2025-03-31", "2026-09-30")
    assert funder_view["global_position"] == released.json()["global_position"]
    assert staff_view["figures"]["enrolled"]["value"] > 10
    assert "counselor" in staff_view["breakdowns"]
    assert "counselor" not in funder_view["breakdowns"]
    assert funder_view["audience"] == "funder"

    def counts(tree: Any) -> list[Any]:
        if isinstance(tree, dict) and set(tree) == {"value", "suppressed"}:
            return [tree]
        return [cell for value in (tree.values() if isinstance(tree, dict) else []) for cell in counts(value)]

    cells = counts(funder_view["figures"]) + counts(funder_view["breakdowns"])
    assert any(cell["suppressed"] for cell in cells)
    for cell in cells:
        value = cell["value"]
        if isinstance(value, int) and not isinstance(value, bool):
            assert not 1 <= value <= 10, cell
    for chosen in (QUERY, f"counselor_id={tenant.counselor_id}", "period=2025-Q1&as_of_position=1", "cohort=spring"):
        refused = await funder.get(f"/v1/reports/outcomes?{chosen}")
        assert refused.status_code == 403, chosen
        assert refused.json()["errors"][0]["field"] in ("from", "counselor_id", "as_of_position", "cohort")
    assert (await funder.get(f"/v1/participants/{uuid.uuid4()}/events")).status_code == 403


async def test_the_worker_keeps_a_monthly_report_that_downloads_unchanged(
    client: AsyncTestClient,
    api: Api,
    owner: asyncpg.Connection,
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,  # type: ignore[type-arg]
) -> None:
    await _seed(pool, worker_pool, tenant, seed=14, participants=20)
    assert await keep_monthly_reports(worker_pool, dt.date(2026, 7, 3)) == 1
    assert await keep_monthly_reports(worker_pool, dt.date(2026, 7, 20)) == 0  # kept once
    listing = (await api.get("/v1/reports/monthly")).json()["reports"]
    assert [r["as_of"] for r in listing] == ["2026-06-30"]
    kept = (await api.get("/v1/reports/monthly/2026-06-30")).json()
    assert kept["from"] == "2026-01-01"
    assert kept["hash"] == listing[0]["hash"]
    # The same report asked for live, at the kept position, is the same to the digit.
    live = (
        await api.get(
            f"/v1/reports/outcomes?from=2026-01-01&to=2026-06-30&as_of=2026-06-30&as_of_position={kept['global_position']}"
        )
    ).json()
    assert live == kept
    email = f"funder-{uuid.uuid4().hex[:6]}@example.org"
    await create_user(owner, programme_id=tenant.programme_id, email=email, role="funder", password="x" * 12)
    funder = await Api.login(client, email, "x" * 12)
    # Year-to-date reports nest (January's cohort is inside February's): funders read releases instead.
    assert (await funder.get("/v1/reports/monthly/2026-06-30")).status_code == 403
    assert (await funder.get("/v1/reports/monthly")).status_code == 403


async def test_exports_hold_the_same_figures_as_the_json_for_staff_and_funders(
    client: AsyncTestClient,  # type: ignore[type-arg]
    api: Api,
    owner: asyncpg.Connection,
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,
    export_worker: None,
) -> None:
    await _seed(pool, worker_pool, tenant, seed=15, participants=30)
    email = f"funder-{uuid.uuid4().hex[:6]}@example.org"
    await create_user(owner, programme_id=tenant.programme_id, email=email, role="funder", password="x" * 12)
    funder = await Api.login(client, email, "x" * 12)
    assert (await api.post("/v1/reports/releases", {"period": "2025-Q2"})).status_code == 201
    for who in (api, funder):
        query = QUERY if who is api else "period=2025-Q2"
        report = (await who.get(f"/v1/reports/outcomes?{query}")).json()
        position = f"&as_of_position={report['global_position']}" if who is api else ""

        as_csv = await who.get(f"/v1/reports/outcomes?{query}{position}&format=csv")
        assert as_csv.status_code == 200
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.headers["x-report-hash"] == report["hash"]
        rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        enrolled = next(r for r in rows if r[:3] == ["figures", "", "enrolled"])
        cell = report["figures"]["enrolled"]
        assert enrolled[4] == ("" if cell["suppressed"] else str(cell["value"]))

        as_xlsx = await who.client.get(
            f"/v1/reports/outcomes?{query}{position}",
            headers={**who.headers, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        )
        assert as_xlsx.status_code == 200
        workbook = openpyxl.load_workbook(io.BytesIO(as_xlsx.content))
        assert "Summary" in workbook.sheetnames

        as_pdf = await who.download(f"/v1/reports/outcomes?{query}{position}&format=pdf")
        assert as_pdf.status_code == 200
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(as_pdf.content)).pages)
        assert report["hash"].removeprefix("sha256:")[:16] in text.replace("\n", "")
        if who is funder:
            assert "counselor" not in report["breakdowns"]
            assert str(tenant.counselor_id) not in text


async def test_a_pdf_is_rendered_by_the_worker_and_asked_for_again_at_the_location_given(
    api: Api, pool: asyncpg.Pool, worker_pool: asyncpg.Pool, tenant: Tenant
) -> None:
    await _seed(pool, worker_pool, tenant, seed=16, participants=15)
    report = (await api.get(f"/v1/reports/outcomes?{QUERY}")).json()

    # No worker runs: the API does not render the PDF itself; after its wait it answers 202.
    pending = await api.get(f"/v1/reports/outcomes?{QUERY}&format=pdf")
    assert pending.status_code == 202, pending.text
    assert pending.json() == {"status": "rendering", "format": "pdf", "hash": report["hash"]}
    assert pending.headers["retry-after"] == "2"
    location = pending.headers["location"]
    assert f"as_of_position={report['global_position']}" in location  # the very report, whatever comes later

    # Later events do not change what the Location names.
    participant = await api.new_participant(tenant.counselor_id)
    assert (
        await api.record(
            "participant",
            participant,
            envelope(
                "outreach_sent",
                {
                    "outreach_id": str(uuid.uuid4()),
                    "contact_id": await api.new_contact(),
                    "channel": "email",
                    "purpose": "introduction",
                },
                occurred_at="2026-01-05T10:00:00Z",
            ),
        )
    ).status_code == 201

    assert await render_pending(worker_pool, render) == 1  # what the worker's job and sweep run
    done = await api.get(location)
    assert done.status_code == 200
    assert done.headers["content-type"] == "application/pdf"
    assert done.headers["x-report-hash"] == report["hash"]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(done.content)).pages)
    assert report["hash"].removeprefix("sha256:")[:16] in text.replace("\n", "")
    assert await render_pending(worker_pool, render) == 0  # kept: the next download is served from the stored file
