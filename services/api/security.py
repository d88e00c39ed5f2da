"""Authentication (bearer tokens) and the role check that guards every route."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from infra.tokens import InvalidToken, read_token

# Routes anyone may call; every other route must name the roles it admits.
PUBLIC = "public"
# The served OpenAPI document is public: it describes the API, never its data.
OPENAPI_PATH = "/schema"


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated user a request acts for."""

    user_id: uuid.UUID
    programme_id: uuid.UUID
    role: str


class BearerAuthentication(AbstractAuthenticationMiddleware):
    """Reads ``Authorization: Bearer <token>`` on every route not marked public."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        super().__init__(app, exclude_from_auth_key=PUBLIC, exclude=[f"^{OPENAPI_PATH}", "^/health$"])
        self._secret = secret

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("send Authorization: Bearer <access token> (POST /v1/auth/login)")
        try:
            claims = read_token(token.strip(), secret=self._secret)
        except InvalidToken as e:
            raise NotAuthorizedException("the access token is invalid or has expired") from e
        principal = Principal(user_id=claims.user_id, programme_id=claims.programme_id, role=claims.role)
        return AuthenticationResult(user=principal, auth=claims)


def roles(*allowed: str) -> dict[str, Any]:
    """Route options admitting these roles: ``@post(..., opt=roles("admin"))``."""
    return {"roles": frozenset(allowed)}


def public() -> dict[str, Any]:
    """Route options for a route that needs no authentication."""
    return {PUBLIC: True}


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Admit the request only when the route names the caller's role; a route naming none admits nobody."""
    if handler.opt.get(PUBLIC) or connection.scope["path"].startswith(OPENAPI_PATH):
        return
    allowed = handler.opt.get("roles")
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException("authentication required")
    if not allowed or user.role not in allowed:
        raise PermissionDeniedException(f"the role {user.role!r} may not do this")
