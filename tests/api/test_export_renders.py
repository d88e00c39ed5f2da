"""CSV and XLSX exports render in a bounded number of slots per API process (issue 14, item 4).

64 XLSX exports at once took an admin's status call from 2 ms to 188 ms: every
rendering thread takes its share of the interpreter from the event loop, and
every export held a database connection while it waited. An export now takes
one of ``PEOPLELINKS_MAX_CONCURRENT_RENDERS`` slots before its connection,
waits up to ``PEOPLELINKS_RENDER_WAIT_SECONDS`` for one, and is answered 503
with Retry-After after that.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import msgspec
import pytest

from infra import export_jobs
from infra.exports import report_xlsx
from infra.settings import Settings
from services.api.app import create_app
from tests.support import Api, Tenant, in_this_loop


async def test_an_export_finding_every_slot_taken_is_503_naming_the_limit(settings: Settings, tenant: Tenant) -> None:
    app = create_app(msgspec.structs.replace(settings, max_concurrent_renders=1, render_wait_seconds=0))
    async with in_this_loop(app) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        slots: export_jobs.RenderSlots = app.state.render_slots
        async with slots.taken():  # a long render
            busy = await admin.get("/v1/reports/outcomes?format=xlsx")
            assert busy.status_code == 503, busy.text
            assert busy.headers["content-type"].startswith("application/problem+json")
            assert busy.json()["limit"] == "export_renders"
            assert int(busy.headers["retry-after"]) >= 1
            assert (await admin.get("/v1/reports/monthly/2026-01-31?format=csv")).status_code == 503
            # Only what this process renders waits for a slot: the same report in JSON is answered at once.
            assert (await admin.get("/v1/reports/outcomes")).status_code == 200

        done = await admin.get("/v1/reports/outcomes?format=xlsx")
        assert done.status_code == 200
        assert done.content.startswith(b"PK")


async def test_exports_asked_at_once_queue_for_the_slots_and_all_arrive(
    settings: Settings, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def counted_xlsx(*args: Any, **kwargs: Any) -> bytes:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.2)  # long enough that unbounded renders would overlap
            return report_xlsx(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setitem(export_jobs.RENDERERS, "xlsx", counted_xlsx)
    bounded = msgspec.structs.replace(settings, max_concurrent_renders=2, render_wait_seconds=30)
    async with in_this_loop(create_app(bounded)) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        answers = await asyncio.gather(*(admin.get("/v1/reports/outcomes?format=xlsx") for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert peak[0] == 2


async def test_an_export_waiting_for_a_slot_holds_no_database_connection(settings: Settings, tenant: Tenant) -> None:
    """Exports queued behind a render leave the pool to everyone else: a status call is answered before them."""
    small = msgspec.structs.replace(settings, pool_max_size=3, max_concurrent_renders=1, render_wait_seconds=30)
    app = create_app(small)
    async with in_this_loop(app) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        slots: export_jobs.RenderSlots = app.state.render_slots
        async with slots.taken():
            exports = [asyncio.create_task(admin.get("/v1/reports/outcomes?format=csv")) for _ in range(6)]
            await asyncio.sleep(0.5)  # they have all reached the slot by now
            status = asyncio.create_task(admin.get("/v1/status"))
            done, _ = await asyncio.wait([status, *exports], return_when=asyncio.FIRST_COMPLETED)
            assert done == {status}, [t.result().status_code for t in done]
            assert status.result().status_code == 200
        answers = await asyncio.gather(*exports)
        assert [a.status_code for a in answers] == [200] * 6
