"""``peoplelinks api``'s log lines name a request's route template, never the path asked for: ids in paths and
query strings stay out of the logs (services/observability.py), whatever uvicorn would log by itself."""

from __future__ import annotations

import httpx

from infra.settings import Settings
from tests.integration.processes import output_of, serve_api, stop, wait_ready
from tests.support import new_id


async def test_the_api_process_logs_the_route_template_and_not_the_path_with_its_ids(settings: Settings) -> None:
    participant = new_id()
    process, base_url = serve_api(settings)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await wait_ready(http)
            answer = await http.get(f"/v1/participants/{participant}/timeline?as_of=2026-01-01")
            assert answer.status_code == 401
    finally:
        stop(process)

    lines = output_of(process).splitlines()
    assert [line for line in lines if "GET /v1/participants/{participant_id}/timeline " in line], lines
    assert [line for line in lines if participant in line or "as_of=" in line] == []
