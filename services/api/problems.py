"""RFC 9457 problem details: the one place where errors become HTTP answers."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions.http_exceptions import ClientException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from domain.rules import RuleViolation
from infra.accounts import EmailTaken
from infra.event_store import ConcurrencyConflict, DuplicateEventId
from infra.export_jobs import RendersBusy
from infra.report_quota import QuotaExceeded
from projections.releases import PeriodError
from services.recording import EventIdReused, StreamBusy, VersionMismatch

PROBLEM_JSON = "application/problem+json"
# Seconds a client waits before sending a request again that was answered 503.
RETRY_AFTER_SECONDS = "1"
_log = logging.getLogger("peoplelinks.api")


class FieldError(msgspec.Struct, frozen=True):
    """One field of the request that is wrong, and why."""

    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem details document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    # An extension member (RFC 9457, section 3.2) of 429 and 503 answers: which limit was reached.
    limit: str | None = None


class InvalidRequest(Exception):
    """A request that cannot be understood: ``field`` names the offending part (HTTP 422)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


class NotFound(Exception):
    """What was asked for does not exist for this caller (another programme's data included)."""


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_NAMED = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")


def field_of_validation_error(error: msgspec.ValidationError, prefix: str = "") -> FieldError:
    """Turn msgspec's "... - at `$.data.channel`" into a field path and a plain message."""
    match = _AT.match(str(error))
    message = match.group("msg") if match else str(error)
    path = (match.group("path") or "") if match else ""
    named = _NAMED.search(message)
    if named:
        path = f"{path}.{named.group('name')}"
    path = path.lstrip(".")
    if prefix:
        path = f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"
    return FieldError(field=path or "body", message=message)


# What each problem status means, as the OpenAPI document says it.
_MEANINGS = {
    400: "The body is not JSON",
    401: "No valid access token: log in (POST /v1/auth/login)",
    403: "Your role may not do this",
    404: "Not found, or not of your programme",
    409: "Conflict: the stream moved on (If-Match), an id or e-mail address is taken, or read models lag",
    413: "Too large: the body, or the number of events",
    422: "A field is not valid, or an event breaks a recording rule: `errors` names the field",
    429: "Too many requests: the limit named by `limit` (failed logins, report requests) was reached; "
    "retry after `Retry-After` seconds",
    503: (
        "The database is unavailable for a moment, every export render slot of this server is taken (`limit`), "
        "or (an append without If-Match) the stream too busy to take it in time: send the same request again "
        "after `Retry-After` seconds"
    ),
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The problem details a route may answer, for its ``responses=`` (and so for the OpenAPI document).

    503 is always among them: every route answering problems asks the database (the session check at least).
    """
    return {
        status: ResponseSpec(
            data_container=Problem, generate_examples=False, description=_MEANINGS[status], media_type=PROBLEM_JSON
        )
        for status in (*statuses, 503)
    }


def problem(
    status: int,
    title: str,
    detail: str | None,
    request: Request[Any, Any, Any],
    errors: list[FieldError] | None = None,
    *,
    limit: str | None = None,
) -> Response[Problem]:
    """A problem details response."""
    return Response(
        Problem(
            type=f"https://peoplelinks.example/problems/{status}",
            title=title,
            status=status,
            detail=detail,
            instance=request.url.path,
            errors=errors,
            limit=limit,
        ),
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def limit_reached(
    status: int, title: str, detail: str, request: Request[Any, Any, Any], *, limit: str, retry_after: int
) -> Response[Problem]:
    """A 429 or 503 answer naming the limit that was reached, with ``Retry-After``."""
    response = problem(status, title, detail, request, limit=limit)
    response.headers["Retry-After"] = str(retry_after)
    return response


# PostgreSQL unreachable, starting, shutting down or out of connection slots, or the connection gone under the
# request: the same request may simply be sent again (event ids make a retried append safe), so 503, not 500.
_DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, ConnectionDoesNotExistError among them
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: a fast shutdown, or pg_terminate_backend
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300: no connection slot left
    # The driver lost track of the connection's protocol (asyncpg answered "cannot switch to state 12; another
    # operation is in progress" on the login check while PostgreSQL shut down): the connection is unusable.
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,  # TimeoutError too: connecting took too long
)
# asyncpg raises its plain InterfaceError for a wrong call too (a wrong number of arguments, which a retry would
# not mend); only these messages of it say that the connection or the pool is gone.
_CONNECTION_GONE = (
    "connection is closed",
    "another operation is in progress",
    "another operation is cancelling",
    "pool is closing",
    "pool is closed",
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is not there right now (answered 503 with Retry-After)."""
    if isinstance(exc, _DATABASE_UNAVAILABLE):
        return True
    return type(exc) is asyncpg.InterfaceError and any(gone in str(exc) for gone in _CONNECTION_GONE)


def database_unavailable_problem(request: Request[Any, Any, Any]) -> Response[Problem]:
    """The 503 answered when the database is not there right now."""
    response = problem(503, "The database is unavailable", "retry the request", request)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def problem_for(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The problem details answer for any exception a handler raises (the pages render the same answer as HTML)."""
    if database_unavailable(exc):
        _log.warning("database unavailable (%s) on %s %s", type(exc).__name__, request.method, request.url.path)
        return database_unavailable_problem(request)
    match exc:
        case asyncpg.UntranslatableCharacterError() | asyncpg.CharacterNotInRepertoireError():
            # PostgreSQL stores no U+0000 in text or jsonb; JSON can carry it, so it is refused here, storing nothing.
            message = "text may not contain the character U+0000"
            return problem(422, "The request is not valid", message, request, [FieldError("body", message)])
        case asyncpg.QueryCanceledError():
            # 57014: the statement ran past PEOPLELINKS_STATEMENT_TIMEOUT_MS (or was cancelled). Nothing was stored
            # (the statement's transaction rolled back) and the same request may succeed once the server is less busy.
            _log.warning("statement cancelled (%s) on %s %s", type(exc).__name__, request.method, request.url.path)
            return limit_reached(
                503,
                "The request took too long",
                "the database stopped the request at its statement timeout; nothing was changed, retry the request",
                request,
                limit="statement_timeout",
                retry_after=int(RETRY_AFTER_SECONDS),
            )
        case PeriodError():
            return problem(422, "The request is not valid", str(exc), request, [FieldError("period", str(exc))])
        case RecursionError():
            # msgspec's decoder stops at a depth Python cannot follow; no event or request is nested like that.
            message = "the JSON is nested too deeply"
            return problem(422, "The request is not valid", message, request, [FieldError("body", message)])
        case RuleViolation():
            return problem(
                422, "The event breaks a recording rule", exc.message, request, [FieldError(exc.field, exc.message)]
            )
        case InvalidRequest():
            title = "Request too large" if exc.status == 413 else "The request is not valid"
            return problem(exc.status, title, exc.message, request, [FieldError(exc.field, exc.message)])
        case msgspec.ValidationError():
            error = field_of_validation_error(exc)
            return problem(422, "The request is not valid", error.message, request, [error])
        case msgspec.DecodeError():
            return problem(400, "The body is not valid JSON", str(exc), request, [FieldError("body", str(exc))])
        case StreamBusy():
            # No If-Match, so no version was asked for: not a conflict, but a moment too busy (retry the same body).
            response = problem(503, "The stream is busy", str(exc), request)
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
            return response
        case VersionMismatch():
            return problem(409, "The stream has moved on", str(exc), request, [FieldError("If-Match", str(exc))])
        case ConcurrencyConflict():
            return problem(409, "The stream has moved on", str(exc), request, [FieldError("If-Match", str(exc))])
        case EventIdReused():
            return problem(
                409, "The event id is already used", exc.message, request, [FieldError(exc.field, exc.message)]
            )
        case DuplicateEventId():
            return problem(409, "The event id is already used", "retry the request", request)
        case QuotaExceeded():
            return limit_reached(
                429, "Too many report requests", str(exc), request, limit="report_requests", retry_after=exc.retry_after
            )
        case RendersBusy():
            return limit_reached(
                503, "Exports are busy", str(exc), request, limit="export_renders", retry_after=exc.retry_after
            )
        case EmailTaken():
            return problem(
                409,
                "The e-mail address is in use",
                "choose another e-mail address",
                request,
                [FieldError("email", "already in use")],
            )
        case NotFound() | NotFoundException():
            return problem(404, "Not found", None, request)
        case NotAuthorizedException():
            response = problem(401, "Authentication required", exc.detail, request)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        case PermissionDeniedException():
            return problem(403, "Not allowed for your role", exc.detail, request)
        case HTTPException():
            extra = exc.extra if isinstance(exc, ClientException) else None
            errors = _litestar_errors(extra)
            status = 422 if exc.status_code == 400 and errors else exc.status_code
            return problem(status, exc.detail or "Error", exc.detail, request, errors or None)
    # No personal data in logs: the request path and the exception type only.
    _log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", None, request)


def _litestar_errors(extra: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict):
                errors.append(
                    FieldError(str(item.get("key") or item.get("source") or "body"), str(item.get("message")))
                )
    return errors


def exception_handlers() -> ExceptionHandlersMap:
    """The handler table for the Litestar app."""
    return {Exception: problem_for}
