"""Login, refresh and logout, and user administration."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody

from domain.events import NO_NUL
from infra.accounts import (
    ROLES,
    LoginPolicy,
    LoginThrottled,
    RefreshRefused,
    SessionGrant,
    UserAccount,
    attempt_login,
    create_user,
    end_session,
    open_session,
    refresh_session,
)
from infra.db import TenantConnection
from infra.settings import Settings
from infra.tokens import TokenClaims, issue_token
from services.api.problems import Problem, limit_reached, problem_responses
from services.api.security import Principal, public, roles

Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=256, pattern=NO_NUL)]


class LoginIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """E-mail and password."""

    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=256, pattern=NO_NUL)]


class RefreshIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The refresh token of the last login or refresh."""

    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class TokenOut(msgspec.Struct, frozen=True, kw_only=True):
    """A bearer access token, and the refresh token that gets the next one (used once)."""

    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class UserIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new user of the caller's programme."""

    email: Email
    role: Literal["admin", "staff", "counselor", "funder"]
    password: Password


class UserOut(msgspec.Struct, frozen=True):
    """The new user's id."""

    user_id: uuid.UUID


class AuthFailed(Exception):
    """Wrong e-mail or password."""


def _throttled(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    return limit_reached(
        429,
        "Too many failed logins",
        "logins for this account or from this address are paused; retry later",
        request,
        limit="login_failures",
        retry_after=exc.retry_after if isinstance(exc, LoginThrottled) else 900,
    )


def _tokens(settings: Settings, grant: SessionGrant) -> TokenOut:
    token, _ = issue_token(
        secret=settings.secret_key,
        user_id=grant.user_id,
        programme_id=grant.programme_id,
        role=grant.role,
        session_id=grant.session_id,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    return TokenOut(
        access_token=token,
        token_type="bearer",  # noqa: S106 (the scheme's name, not a secret)
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=grant.refresh_token,
        refresh_expires_in=grant.refresh_expires_in,
    )


async def check_login(
    pool: asyncpg.Pool, request: Request[Any, Any, Any], settings: Settings, *, email: str, password: str
) -> UserAccount | None:
    """The account of this e-mail and password, None when wrong, under the settings' login throttling
    (``LoginThrottled`` when locked out); the JSON login and the pages' login both check with it."""
    return await attempt_login(
        pool,
        email=email,
        password=password,
        client_address=request.client.host if request.client is not None else "unknown",
        policy=LoginPolicy(
            max_failures_per_email=settings.login_max_failures_per_email,
            max_failures_per_client=settings.login_max_failures_per_client,
            window=dt.timedelta(seconds=settings.login_failure_window_seconds),
            lockout=dt.timedelta(seconds=settings.login_lockout_seconds),
        ),
        key=settings.secret_key.encode(),
    )


class AccountsController(Controller):
    """``/v1/auth/login``, ``/v1/auth/refresh``, ``/v1/auth/logout`` and ``/v1/users``."""

    tags = ("accounts",)
    exception_handlers = {LoginThrottled: _throttled}  # noqa: RUF012 (Litestar reads it from the class)

    @post(
        "/v1/auth/login",
        opt=public(),
        operation_id="login",
        responses=problem_responses(400, 401, 413, 422, 429),
        summary="Exchange e-mail and password for an access token and a refresh token",
        description=(
            "By default, after 5 failed logins for one e-mail address from one client address within 15 minutes "
            "(or 20 from one client address for any e-mail), logins from there are refused with 429 and "
            "Retry-After for 15 minutes, even with the right password. Failures from elsewhere do not lock the "
            "address's owner out; past 5 they slow every attempt at that address by up to 3 seconds."
        ),
        status_code=200,
        security=[],
    )
    async def login(
        self,
        data: JSONBody[LoginIn],
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[Settings],
    ) -> TokenOut:
        account = await check_login(pool, request, settings, email=data.email, password=data.password)
        if account is None:
            raise AuthFailed()
        grant = await open_session(pool, account, ttl=dt.timedelta(seconds=settings.refresh_token_ttl_seconds))
        return _tokens(settings, grant)

    @post(
        "/v1/auth/refresh",
        opt=public(),
        operation_id="refreshToken",
        responses=problem_responses(400, 401, 413, 422),
        summary="Exchange a refresh token for a new access token and the next refresh token",
        description=(
            "Each refresh token works once. Presenting one that was already used ends its whole session: "
            "every access and refresh token of that login stops working."
        ),
        status_code=200,
        security=[],
    )
    async def refresh(
        self, data: JSONBody[RefreshIn], pool: NamedDependency[asyncpg.Pool], settings: NamedDependency[Settings]
    ) -> TokenOut:
        try:
            grant = await refresh_session(pool, data.refresh_token)
        except RefreshRefused:
            raise NotAuthorizedException("the refresh token is invalid, expired or used: log in again") from None
        return _tokens(settings, grant)

    @post(
        "/v1/auth/logout",
        opt=roles(*ROLES),
        operation_id="logout",
        responses=problem_responses(401),
        summary="End this session: its access and refresh tokens stop working",
        status_code=204,
    )
    async def logout(
        self, request: Request[Principal, TokenClaims, Any], db: NamedDependency[TenantConnection]
    ) -> None:
        await end_session(db, request.auth.session_id)

    @post(
        "/v1/users",
        opt=roles("admin"),
        operation_id="createUser",
        responses=problem_responses(400, 401, 403, 409, 413, 422),
        summary="Add a user to your programme",
        status_code=201,
    )
    async def create(
        self, data: JSONBody[UserIn], request: Request[Principal, Any, Any], db: NamedDependency[TenantConnection]
    ) -> UserOut:
        user_id = await create_user(
            db, programme_id=request.user.programme_id, email=data.email, role=data.role, password=data.password
        )
        return UserOut(user_id=user_id)
