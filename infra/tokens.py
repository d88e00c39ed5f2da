"""Bearer access tokens (short-lived, HS256, naming their session) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

import jwt
import msgspec

_ALGORITHM = "HS256"
# 256 bits of randomness: guessing one is hopeless, so refreshing needs no throttle.
_REFRESH_TOKEN_BYTES = 32


class TokenClaims(msgspec.Struct, frozen=True, kw_only=True):
    """Who a token speaks for, and the session it belongs to."""

    user_id: uuid.UUID
    programme_id: uuid.UUID
    role: str
    session_id: uuid.UUID
    token_id: uuid.UUID
    expires_at: int


class InvalidToken(Exception):
    """The token is missing, malformed, forged or expired."""


def issue_token(
    *,
    secret: str,
    user_id: uuid.UUID,
    programme_id: uuid.UUID,
    role: str,
    session_id: uuid.UUID,
    ttl_seconds: int,
) -> tuple[str, TokenClaims]:
    """A signed access token for this user's session, and its claims."""
    now = int(time.time())
    claims = TokenClaims(
        user_id=user_id,
        programme_id=programme_id,
        role=role,
        session_id=session_id,
        token_id=uuid.uuid4(),
        expires_at=now + ttl_seconds,
    )
    payload = {
        "sub": str(user_id),
        "pid": str(programme_id),
        "role": role,
        "sid": str(session_id),
        "jti": str(claims.token_id),
        "iat": now,
        "exp": claims.expires_at,
        "typ": "access",
    }
    return jwt.encode(payload, secret, algorithm=_ALGORITHM), claims


def read_token(token: str, *, secret: str) -> TokenClaims:
    """Verify a token's signature and expiry and return its claims; raises ``InvalidToken``.

    Whether its session is still open is for the caller to ask the database.
    """
    try:
        payload = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub", "pid", "sid", "jti"]}
        )
        if payload.get("typ") != "access":
            raise InvalidToken("not an access token")
        return TokenClaims(
            user_id=uuid.UUID(payload["sub"]),
            programme_id=uuid.UUID(payload["pid"]),
            role=str(payload["role"]),
            session_id=uuid.UUID(payload["sid"]),
            token_id=uuid.UUID(payload["jti"]),
            expires_at=int(payload["exp"]),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as e:
        raise InvalidToken(str(e)) from e


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh opaque refresh token and the digest under which it is stored."""
    token = secrets.token_urlsafe(_REFRESH_TOKEN_BYTES)
    return token, refresh_token_digest(token)


def refresh_token_digest(token: str) -> bytes:
    """The SHA-256 of a refresh token: only this is stored, never the token."""
    return hashlib.sha256(token.encode()).digest()
