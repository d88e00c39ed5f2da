"""Each request's id, its latency by route template, and one log line for it (no path, no query, no body)."""

from __future__ import annotations

import logging
import time
import uuid

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.observability import HTTP_REQUEST_SECONDS, REQUEST_ID

_log = logging.getLogger("peoplelinks.http")


class RequestTelemetry:
    """The outermost middleware of every route: gives the request its id (``X-Request-ID``), times it, logs it.

    The route is the template Litestar matched (``/v1/participants/{participant_id:uuid}/timeline``),
    never the path asked for: ids would make one series per participant and put ids in the logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4()
        scope["state"]["request_id"] = request_id
        token = REQUEST_ID.set(str(request_id))
        started = time.perf_counter()
        status = 500  # unless an answer starts: an exception that escapes every handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = str(request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(elapsed)
            _log.info("%s %s %d %.1f ms", method, route, status, elapsed * 1000)
            REQUEST_ID.reset(token)
