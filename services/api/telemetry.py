"""The API's one middleware: each request's id, its latency by route template and one log line (no path, no query,
no body), the access log of audited reads, and the connections a request borrowed given back as it ends."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import asyncpg
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.api.borrowed import give_back, lending
from services.api.problems import database_unavailable
from services.api.security import audited, record_read, send_withheld
from services.observability import HTTP_REQUEST_SECONDS, REQUEST_ID

_log = logging.getLogger("peoplelinks.http")


class RequestCycle:
    """The outermost middleware of every route, around authentication.

    One layer, not one a concern: each layer is a coroutine call and a wrapped ``send`` on every
    request, and a single-event POST is small enough for them to show (bench/RESULTS.md). In turn:

    - the request's id, in the scope's state, the log records' context and ``X-Request-ID``;
    - the connections the request's dependencies borrow are recorded (``services.api.borrowed``)
      and given back when the request ends, also those Litestar never closed;
    - an audited route's successful answer (``audit_participant``) is recorded in the access log
      before its first byte leaves; when it cannot be, the caller gets 500 (503 when the database
      is not there) instead of the record;
    - its latency by route template and one log line. The route is the template Litestar matched
      (``/v1/participants/{participant_id:uuid}/timeline``), never the path asked for: ids would
      make one series per participant and put ids in the logs.
    """

    def __init__(self, app: ASGIApp, pool: Callable[[], asyncpg.Pool]) -> None:
        self.app = app
        self._pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4()
        scope["state"]["request_id"] = request_id
        request_id_text = str(request_id)
        request_id_header = (b"x-request-id", request_id_text.encode())
        token = REQUEST_ID.set(request_id_text)
        started = time.perf_counter()
        lent = lending(scope)
        audit = audited(scope)
        status = 500  # unless an answer starts: an exception that escapes every handler
        withheld = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, withheld
            if withheld:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                if audit is not None and 200 <= status < 300:
                    try:
                        await record_read(self._pool(), scope, audit, request_id)
                    except Exception as e:
                        # No personal data in logs: the route and the exception type only.
                        _log.error("access log not written for %s: %s", scope["path"], type(e).__name__, exc_info=e)
                        withheld = True
                        status = await send_withheld(send, scope, request_id, unavailable=database_unavailable(e))
                        return
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except HTTPException as e:
            # Refused before the route (authentication): the app's exception handler, outside, answers it.
            status = e.status_code
            raise
        finally:
            await give_back(lent)
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(elapsed)
            _log.info("%s %s %d %.1f ms", method, route, status, elapsed * 1000)
            REQUEST_ID.reset(token)
