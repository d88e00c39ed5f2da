"""The HTTP floor for bench/append.py: the single-event route, doing nothing, served like the API.

Same framework, server and settings as ``peoplelinks api``, and no work behind the
route: what 16 httpx clients and one uvicorn process cost on this machine before
PeopleLinks does anything. ``uvicorn --factory bench.floor_app:build``.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar, Request, get, post


@post("/v1/participants/{record_id:uuid}/events", status_code=201)
async def record(record_id: uuid.UUID, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Read the body and answer as the real route does, storing nothing."""
    await request.body()
    return {"stream_id": f"participant-{record_id}", "stream_version": 1, "global_position": 1, "event_ids": []}


@get("/health")
async def health() -> dict[str, str]:
    """Liveness, as the API answers it."""
    return {"status": "ok"}


def build() -> Litestar:
    """The application."""
    return Litestar(route_handlers=[record, health], debug=False)
