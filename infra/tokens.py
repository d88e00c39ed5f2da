"""Bearer access tokens: short-lived, signed with the configured secret (HS256)."""

from __future__ import annotations

import time
import uuid

import jwt
import msgspec

_ALGORITHM = "HS256"


class TokenClaims(msgspec.Struct, frozen=True, kw_only=True):
    """Who a token speaks for."""

    user_id: uuid.UUID
    programme_id: uuid.UUID
    role: str
    token_id: uuid.UUID
    expires_at: int


class InvalidToken(Exception):
    """The token is missing, malformed, forged or expired."""


def issue_token(
    *, secret: str, user_id: uuid.UUID, programme_id: uuid.UUID, role: str, ttl_seconds: int
) -> tuple[str, TokenClaims]:
    """A signed access token for this user, and its claims."""
    now = int(time.time())
    claims = TokenClaims(
        user_id=user_id, programme_id=programme_id, role=role, token_id=uuid.uuid4(), expires_at=now + ttl_seconds
    )
    payload = {
        "sub": str(user_id),
        "pid": str(programme_id),
        "role": role,
        "jti": str(claims.token_id),
        "iat": now,
        "exp": claims.expires_at,
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM), claims


def read_token(token: str, *, secret: str) -> TokenClaims:
    """Verify a token's signature and expiry and return its claims; raises ``InvalidToken``."""
    try:
        payload = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "pid"]})
        if payload.get("typ") != "access":
            raise InvalidToken("not an access token")
        return TokenClaims(
            user_id=uuid.UUID(payload["sub"]),
            programme_id=uuid.UUID(payload["pid"]),
            role=str(payload["role"]),
            token_id=uuid.UUID(payload["jti"]),
            expires_at=int(payload["exp"]),
        )
    except (jwt.PyJWTError, KeyError, ValueError) as e:
        raise InvalidToken(str(e)) from e
