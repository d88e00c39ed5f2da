"""Logging in to the pages: an encrypted session cookie naming a database session, and CSRF on every form.

The cookie (HttpOnly, Secure, SameSite=Strict, path ``/app``) holds the ids of a
session opened by the same login code as ``POST /v1/auth/login`` (throttling
included). Every request asks the database whether that session is still open
and its user active, as the bearer tokens do, so logging out, disabling a user
or changing a role applies at once. The JSON API never reads the cookie: it
answers bearer tokens only, and needs no CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Final
from urllib.parse import quote

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType, ScopeType
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Receive, Scope, Send

from infra.accounts import ROLES, LoginThrottled, end_session, open_session, session_user
from infra.db import TenantConnection
from infra.settings import Settings
from services.api.accounts_routes import check_login
from services.api.pages.site import PAGES, landing, page
from services.api.security import PUBLIC, Principal, public, roles

SESSION_COOKIE: Final = "peoplelinks_session"
CSRF_COOKIE: Final = "peoplelinks_csrf"
CSRF_HEADER: Final = "x-csrftoken"


def _key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the deployment's secret key."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def session_cookie_config(settings: Settings) -> CookieBackendConfig:
    """The pages' session cookie: encrypted (AES-GCM), HttpOnly, Secure, SameSite=Strict, sent to /app only."""
    return CookieBackendConfig(
        secret=_key(settings.secret_key, "peoplelinks page session cookie"),
        key=SESSION_COOKIE,
        path=PAGES,
        secure=True,
        httponly=True,
        samesite="strict",
        max_age=settings.page_session_seconds,
    )


def csrf_config(settings: Settings) -> CSRFConfig:
    """CSRF protection of every form and script call of the pages (double submit: cookie and field or header)."""
    return CSRFConfig(
        secret=_key(settings.secret_key, "peoplelinks page csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_path=PAGES,
        cookie_secure=True,
        cookie_httponly=True,  # the pages' script reads the token from the page, not from the cookie
        cookie_samesite="strict",
        header_name=CSRF_HEADER,
    )


class PageSessionCookie(SessionMiddleware[ClientSideSessionBackend]):
    """Litestar's session middleware with the pages' cookie, built where the route's middleware stack is.

    Built from the settings rather than handed a ready backend: Litestar copies a
    router's middleware definitions, and the backend's cipher cannot be copied.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app, backend=ClientSideSessionBackend(config=session_cookie_config(settings)))


class PageSession(msgspec.Struct, frozen=True, kw_only=True):
    """What the session cookie holds: the database session and whose it is."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    programme_id: uuid.UUID


def _session_of(scope: Scope) -> PageSession | None:
    data = scope.get("session")
    if not isinstance(data, dict) or not data:
        return None
    try:
        return msgspec.convert(data, PageSession, strict=False)
    except msgspec.ValidationError:
        return None


def _safe_next(target: str | None) -> str | None:
    """Only a path of the pages themselves: no redirect to elsewhere (``//host``, ``https:``)."""
    if target and target.startswith(f"{PAGES}/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


class PageAuthentication:
    """Sets the request's user from the session cookie; sends a person to the login page when there is none.

    Runs after the session middleware (which opens the cookie) and before the
    role and participant guards, which then work as they do for the JSON API.
    """

    def __init__(self, app: ASGIApp, pool: Callable[[], asyncpg.Pool]) -> None:
        self.app = app
        self._pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        session = _session_of(scope)
        user = None
        if session is not None:
            user = await session_user(self._pool(), session.session_id, session.user_id, session.programme_id)
        if user is not None:
            scope["user"] = Principal(user_id=user.user_id, programme_id=user.programme_id, role=user.role)
            scope["auth"] = session
        else:
            handler = scope.get("route_handler")
            if handler is None or not handler.opt.get(PUBLIC):
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send) -> None:
    """A person's GET goes to the login page (and comes back after); a script's call gets 401."""
    if scope.get("method") == "GET":
        query = scope.get("query_string", b"").decode("latin-1")
        here = scope["path"] + (f"?{query}" if query else "")
        status, headers = 303, [(b"location", f"{PAGES}/login?next={quote(here, safe='')}".encode())]
        body = b""
    else:
        status, headers = 401, [(b"content-type", b"application/problem+json")]
        body = msgspec.json.encode(
            {"title": "Authentication required", "status": 401, "detail": "log in again: the session has ended"}
        )
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class LoginForm(msgspec.Struct, frozen=True, kw_only=True):
    """The login form's fields."""

    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=256)]
    next: str | None = None


class SessionController(Controller):
    """``/app/login``, ``/app/logout`` and ``/app/`` (the landing page of each role)."""

    include_in_schema = False

    @get("/", opt=roles(*ROLES), sync_to_thread=False)
    def home(self, request: Request[Principal, Any, Any]) -> Redirect:
        return Redirect(landing(request.user), status_code=303)

    @get("/login", opt=public(), sync_to_thread=False)
    def login_page(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[Any]:
        user = request.scope.get("user")
        if isinstance(user, Principal):
            return Redirect(_safe_next(next) or landing(user), status_code=303)
        return page(request, "login.html", title="Log in", next=_safe_next(next), error=None)

    @post("/login", opt=public(), status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
        pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        target = _safe_next(data.next)
        try:
            account = await check_login(pool, request, settings, email=data.email, password=data.password)
        except LoginThrottled as e:
            minutes = max(1, round(e.retry_after / 60))
            answer: Template = page(
                request,
                "login.html",
                title="Log in",
                status=429,
                next=target,
                email=data.email,
                error=f"Too many failed logins: try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            )
            answer.headers["Retry-After"] = str(e.retry_after)
            return answer
        if account is None:
            return page(
                request,
                "login.html",
                title="Log in",
                status=401,
                next=target,
                email=data.email,
                error="Wrong e-mail or password.",
            )
        grant = await open_session(pool, account, ttl=dt.timedelta(seconds=settings.page_session_seconds))
        request.set_session(
            {
                "session_id": str(grant.session_id),
                "user_id": str(grant.user_id),
                "programme_id": str(grant.programme_id),
            }
        )
        principal = Principal(user_id=grant.user_id, programme_id=grant.programme_id, role=grant.role)
        return Redirect(target or landing(principal), status_code=303)

    @post("/logout", opt=roles(*ROLES), status_code=303)
    async def logout(
        self, request: Request[Principal, PageSession, Any], db: NamedDependency[TenantConnection]
    ) -> Redirect:
        await end_session(db, request.auth.session_id)
        request.clear_session()
        return Redirect(f"{PAGES}/login", status_code=303)
