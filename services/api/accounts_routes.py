"""Login and user administration."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from infra.accounts import authenticate, create_user
from infra.settings import Settings
from infra.tokens import issue_token
from services.api.security import Principal, public, roles

Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=256)]


class LoginIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """E-mail and password."""

    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=256)]


class TokenOut(msgspec.Struct, frozen=True):
    """A bearer access token."""

    access_token: str
    token_type: str
    expires_in: int


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


class AccountsController(Controller):
    """``/v1/auth/login`` and ``/v1/users``."""

    tags = ("accounts",)

    @post(
        "/v1/auth/login",
        opt=public(),
        operation_id="login",
        summary="Exchange e-mail and password for a token",
        status_code=200,
        security=[],
    )
    async def login(
        self, data: JSONBody[LoginIn], pool: NamedDependency[asyncpg.Pool], settings: NamedDependency[Settings]
    ) -> TokenOut:
        account = await authenticate(pool, data.email, data.password)
        if account is None:
            raise AuthFailed()
        token, _ = issue_token(
            secret=settings.secret_key,
            user_id=account.user_id,
            programme_id=account.programme_id,
            role=account.role,
            ttl_seconds=settings.access_token_ttl_seconds,
        )
        return TokenOut(
            access_token=token,
            token_type="bearer",  # noqa: S106 (the scheme's name, not a secret)
            expires_in=settings.access_token_ttl_seconds,
        )

    @post(
        "/v1/users",
        opt=roles("admin"),
        operation_id="createUser",
        summary="Add a user to your programme",
        status_code=201,
    )
    async def create(
        self, data: JSONBody[UserIn], request: Request[Principal, Any, Any], pool: NamedDependency[asyncpg.Pool]
    ) -> UserOut:
        user_id = await create_user(
            pool, programme_id=request.user.programme_id, email=data.email, role=data.role, password=data.password
        )
        return UserOut(user_id=user_id)
