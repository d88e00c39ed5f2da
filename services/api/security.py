"""Authentication (bearer tokens of open sessions), the role check on every route, the access log, security headers."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Scope, Send

from infra.access_log import record_access
from infra.accounts import session_user
from infra.db import tenant_connection
from infra.tokens import InvalidToken, TokenClaims, read_token
from services.api.problems import PROBLEM_JSON, RETRY_AFTER_SECONDS, Problem

# Routes anyone may call; every other route must name the roles it admits.
PUBLIC = "public"
# The served OpenAPI document is public: it describes the API, never its data.
OPENAPI_PATH = "/schema"
# The server-rendered web pages: their own login (a session cookie) and their own policy.
PAGES_PATH = "/app"
# Route option marking a read of one participant's record (see ``audit_participant``).
AUDIT = "audit"

_log = logging.getLogger("peoplelinks.api")
# How many verified access tokens each process remembers (see ``BearerAuthentication``).
VERIFIED_TOKENS_KEPT = 10_000


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated user a request acts for."""

    user_id: uuid.UUID
    programme_id: uuid.UUID
    role: str


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Reads ``Authorization: Bearer <token>`` on every route not marked public.

    A valid signature is not enough: the token's session must still be open
    and its user active, asked of the database on every request (one
    primary-key lookup), so that logout, a stolen refresh token detected, or a
    disabled user end access at once. The role and programme are the
    database's, not the token's, so a changed role applies at once too.
    """

    def __init__(self, app: ASGIApp, secret: str, pool: Callable[[], asyncpg.Pool]) -> None:
        # The web pages (/app) authenticate with their session cookie instead (services/api/pages/sessions.py).
        super().__init__(
            app, exclude_from_auth_key=PUBLIC, exclude=[f"^{OPENAPI_PATH}", "^/health$", f"^{PAGES_PATH}(/|$)"]
        )
        self._secret = secret
        self._pool = pool
        # Tokens whose signature was verified, with their claims: a client sends the same token with every
        # request, and HS256 verification is a large share of a small request. Only the signature's verdict is
        # kept: expiry is checked on each use, and the session on each use in the database.
        self._verified: dict[str, TokenClaims] = {}

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("send Authorization: Bearer <access token> (POST /v1/auth/login)")
        token = token.strip()
        claims = self._verified.get(token)
        if claims is None or claims.expires_at <= time.time():
            try:
                claims = read_token(token, secret=self._secret)
            except InvalidToken as e:
                self._verified.pop(token, None)
                raise NotAuthorizedException("the access token is invalid or has expired") from e
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                self._verified.clear()  # simpler than LRU, and rare: each token lives for minutes
            self._verified[token] = claims
        # Through a connection acting for the programme the token names: the next statement of this request
        # (of the same programme) finds one acting for it already, with no round trip to set it.
        async with tenant_connection(self._pool(), claims.programme_id) as conn:
            user = await session_user(conn, claims.session_id, claims.user_id, claims.programme_id)
        if user is None:
            raise NotAuthorizedException("the session has ended: log in again")
        principal = Principal(user_id=user.user_id, programme_id=user.programme_id, role=user.role)
        return AuthenticationResult(user=principal, auth=claims)


def roles(*allowed: str) -> dict[str, Any]:
    """Route options admitting these roles: ``@post(..., opt=roles("admin"))``."""
    return {"roles": frozenset(allowed)}


def public() -> dict[str, Any]:
    """Route options for a route that needs no authentication."""
    return {PUBLIC: True}


async def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Admit the request only when the route names the caller's role; a route naming none admits nobody.

    Async although it awaits nothing: Litestar runs a sync guard in a worker thread.
    """
    if handler.opt.get(PUBLIC) or connection.scope["path"].startswith(OPENAPI_PATH):
        return
    allowed = handler.opt.get("roles")
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException("authentication required")
    if not allowed or user.role not in allowed:
        raise PermissionDeniedException(f"the role {user.role!r} may not do this")


AsyncGuard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def in_turn(*guards: AsyncGuard) -> AsyncGuard:
    """One guard that runs ``guards`` in turn, the first refusal ending the request.

    Litestar copies the route handler for each guard it calls, on every request: one guard costs one copy.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        for each in guards:
            await each(connection, handler)

    return guard


# -- The access log -----------------------------------------------------------


class ParticipantRead(msgspec.Struct, frozen=True, kw_only=True):
    """How an audited route names the participant it reads, and the action to log."""

    path_param: str
    action: str | None


def audit_participant(path_param: str = "record_id", *, action: str | None = None) -> dict[str, Any]:
    """Route options logging each successful answer as a read of the participant named by ``path_param``.

    For example ``@get("/v1/participants/{participant_id:uuid}/timeline",
    opt={**roles("admin"), **audit_participant("participant_id")})``.
    The action logged is ``action``, else the route's ``operation_id``.
    """
    return {AUDIT: ParticipantRead(path_param=path_param, action=action)}


def audited(scope: Scope) -> ParticipantRead | None:
    """How the route matched names the participant it reads, if it is an audited route."""
    handler = scope.get("route_handler")
    audit = handler.opt.get(AUDIT) if handler is not None else None
    return audit if isinstance(audit, ParticipantRead) else None


async def record_read(pool: asyncpg.Pool, scope: Scope, audit: ParticipantRead, request_id: uuid.UUID) -> None:
    """The access log's entry for a successful answer of an audited route (``audit_participant``).

    Written before the answer's first byte leaves (``services.api.telemetry.RequestCycle``): when
    it cannot be written the caller gets ``send_withheld``'s answer instead of the record, since a
    read that leaves no trace is what the log exists to prevent.
    """
    user = scope.get("user")
    if not isinstance(user, Principal):
        raise TypeError("an audited route must require authentication")
    raw = scope["path_params"][audit.path_param]
    participant_id = raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    handler = scope["route_handler"]
    operation_id = getattr(handler, "operation_id", None)
    async with tenant_connection(pool, user.programme_id) as conn:
        await record_access(
            conn,
            programme_id=user.programme_id,
            user_id=user.user_id,
            role=user.role,
            participant_id=participant_id,
            action=audit.action or str(operation_id or handler.handler_name),
            request_id=request_id,
        )


async def send_withheld(send: Send, scope: Scope, request_id: uuid.UUID, *, unavailable: bool) -> int:
    """The answer instead of a record whose read could not be logged: 503 when the database is not there."""
    status, title = (503, "The database is unavailable") if unavailable else (500, "Internal error")
    body = msgspec.json.encode(
        Problem(
            type=f"https://peoplelinks.example/problems/{status}",
            title=title,
            status=status,
            detail="the access could not be logged, so the record is withheld"
            + ("; retry the request" if unavailable else ""),
            instance=scope["path"],
        )
    )
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", str(request_id).encode()),
    ]
    if unavailable:
        headers.append((b"retry-after", RETRY_AFTER_SECONDS.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return status


# -- Security headers ---------------------------------------------------------

_ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "cross-origin-opener-policy": "same-origin",
}
# The API answers JSON and files: nothing in them may load, run or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The documentation page under /schema (Swagger UI) loads its files from the API itself
# (/schema/assets, from the swagger-ui-bundle package) and starts them inline: no CDN.
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; "
    "img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


# The web pages load scripts, styles and images from the API itself only, and post their forms to themselves.
PAGES_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _is_pages(path: str) -> bool:
    return path == PAGES_PATH or path.startswith(f"{PAGES_PATH}/")


def _is_docs(path: str) -> bool:
    return path == OPENAPI_PATH or path.startswith(f"{OPENAPI_PATH}/")


def _raw(headers: dict[str, str]) -> tuple[frozenset[bytes], list[tuple[bytes, bytes]]]:
    pairs = [(name.encode(), value.encode()) for name, value in headers.items()]
    return frozenset(name for name, _ in pairs), pairs


# Answers carry records of people with convictions: no cache may keep them (nor the pages' own files, for
# simplicity: they are small). The documentation page keeps its files cacheable.
_DOCS_HEADERS = _raw({**_ALWAYS, "content-security-policy": DOCS_CSP})
_PAGES_HEADERS = _raw({**_ALWAYS, "content-security-policy": PAGES_CSP, "cache-control": "no-store"})
_API_HEADERS = _raw({**_ALWAYS, "content-security-policy": API_CSP, "cache-control": "no-store"})


async def send_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: security headers on every answer, errors and 404s of unknown paths included.

    They replace any the route set of the same names. Written as raw header pairs (an answer's start has
    no others of these names but for the rare ``cache-control``): this runs on every answer.
    """
    if message["type"] != "http.response.start":
        return
    path = scope["path"]
    names, values = _DOCS_HEADERS if _is_docs(path) else _PAGES_HEADERS if _is_pages(path) else _API_HEADERS
    headers = list(message.get("headers") or ())
    if any(name.lower() in names for name, _ in headers):
        headers = [(name, value) for name, value in headers if name.lower() not in names]
    headers.extend(values)
    message["headers"] = headers
