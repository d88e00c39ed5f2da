"""Programmes (the tenants) and their users: password hashes (argon2id), throttled logins, sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterable
from typing import Final, Literal

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from infra.db import Connection, tenant_connection
from infra.tokens import new_refresh_token, refresh_token_digest

Role = Literal["admin", "staff", "counselor", "funder"]
ROLES: tuple[Role, ...] = ("admin", "staff", "counselor", "funder")
# Roles whose users may be named as a participant's counselor (events.md).
COUNSELING_ROLES: tuple[Role, ...] = ("counselor", "staff", "admin")

_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the e-mail is unknown, so that a miss costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class EmailTaken(Exception):
    """The e-mail address already belongs to a user."""


class UserAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A user as authentication sees them."""

    user_id: uuid.UUID
    programme_id: uuid.UUID
    email: str
    role: Role


async def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (computed off the event loop)."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


async def create_programme(
    conn: asyncpg.Connection, *, name: str, admin_email: str, admin_password: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """Create a programme and its first admin in one transaction; returns both ids."""
    programme_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute("INSERT INTO programmes (programme_id, name) VALUES ($1, $2)", programme_id, name)
        admin_id = await create_user(
            conn, programme_id=programme_id, email=admin_email, role="admin", password=admin_password
        )
    return programme_id, admin_id


async def create_user(
    conn: Connection | asyncpg.Pool, *, programme_id: uuid.UUID, email: str, role: Role, password: str
) -> uuid.UUID:
    """Add a user to a programme; raises ``EmailTaken`` when the address is in use."""
    user_id = uuid.uuid4()
    password_hash = await hash_password(password)
    try:
        await conn.execute(
            "INSERT INTO users (user_id, programme_id, email, role, password_hash) VALUES ($1, $2, $3, $4, $5)",
            user_id,
            programme_id,
            email.strip().lower(),
            role,
            password_hash,
        )
    except asyncpg.UniqueViolationError as e:
        raise EmailTaken(email) from e
    return user_id


async def authenticate(conn: Connection | asyncpg.Pool, email: str, password: str) -> UserAccount | None:
    """The active user with this e-mail and password, else None (same cost either way)."""
    # Before login there is no programme to act for: one definer function answers this one lookup.
    row = await conn.fetchrow(
        "SELECT user_id, programme_id, email, role, password_hash FROM peoplelinks_login_lookup($1)",
        email.strip().lower(),
    )
    if row is None:
        await _verify(_DUMMY_HASH, password)
        return None
    if not await _verify(row["password_hash"], password):
        return None
    return UserAccount(user_id=row["user_id"], programme_id=row["programme_id"], email=row["email"], role=row["role"])


async def counselors_among(
    conn: Connection | asyncpg.Pool, programme_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Which of ``user_ids`` are active users of the programme who may counsel."""
    ids = list(set(user_ids))
    if not ids:
        return frozenset()
    rows = await conn.fetch(
        """SELECT user_id FROM users WHERE programme_id = $1 AND user_id = ANY($2::uuid[])
           AND role = ANY($3::text[]) AND disabled_at IS NULL""",
        programme_id,
        ids,
        list(COUNSELING_ROLES),
    )
    return frozenset(row["user_id"] for row in rows)


class LastAdmin(Exception):
    """The change would leave the programme without an active admin (no one could manage it any more)."""


class UserListing(msgspec.Struct, frozen=True, kw_only=True):
    """A user as the admin's list shows them."""

    user_id: uuid.UUID
    email: str
    role: Role
    active: bool
    created_at: dt.datetime


async def list_users(conn: Connection, programme_id: uuid.UUID) -> list[UserListing]:
    """The programme's users, active ones first, by e-mail."""
    rows = await conn.fetch(
        """SELECT user_id, email, role, disabled_at IS NULL AS active, created_at FROM users
           WHERE programme_id = $1 ORDER BY disabled_at IS NOT NULL, email""",
        programme_id,
    )
    return [UserListing(**dict(row)) for row in rows]


async def change_role(conn: Connection, programme_id: uuid.UUID, user_id: uuid.UUID, role: Role) -> bool:
    """Give a user of the programme another role; False when no such user. Raises ``LastAdmin``.

    The users of the programme are locked for the check, so that two admins
    demoting each other at once cannot both succeed and leave none.
    """
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT user_id, role FROM users WHERE programme_id = $1 AND disabled_at IS NULL FOR UPDATE", programme_id
        )
        current = {row["user_id"]: row["role"] for row in rows}
        if user_id not in current:
            return False
        admins = {u for u, r in current.items() if r == "admin"}
        if role != "admin" and admins == {user_id}:
            raise LastAdmin()
        await conn.execute(
            "UPDATE users SET role = $3 WHERE programme_id = $1 AND user_id = $2", programme_id, user_id, role
        )
    return True


class ProgrammeSettingsChange(msgspec.Struct, frozen=True, kw_only=True):
    """The programme settings an admin may change (reports.md: time zone, suppression, follow-up interval)."""

    time_zone: str
    suppress_below: int
    follow_up_after_days: int


async def change_programme_settings(conn: Connection, programme_id: uuid.UUID, change: ProgrammeSettingsChange) -> None:
    """Store new settings for the programme (the caller has checked the time zone's name)."""
    await conn.execute(
        """UPDATE programmes SET time_zone = $2, suppress_below = $3, follow_up_after_days = $4
           WHERE programme_id = $1""",
        programme_id,
        change.time_zone,
        change.suppress_below,
        change.follow_up_after_days,
    )


# -- Login throttling ---------------------------------------------------------


class LoginPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How many failed logins lock an e-mail address or a client address out, and for how long."""

    max_failures_per_email: int = 5
    max_failures_per_client: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)
    lockout: dt.timedelta = dt.timedelta(minutes=15)


class LoginThrottled(Exception):
    """Too many failed logins: no login for this e-mail or from this client for ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def email_hash(email: str, key: bytes) -> bytes:
    """A keyed hash (HMAC-SHA-256) of a normalised e-mail address, under which its login attempts are counted.

    Keyed, so that a copy of the table does not let anyone test guessed addresses against it.
    """
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).digest()


# Seconds left of the latest lockout, if any. A failure locks when it is the
# `limit`-th within `window` (the frame counts it and those before it), and
# the lock lasts `lockout` from it. Attempts still 'pending' count: their
# password is being checked now. An e-mail address is locked from one client
# address at a time (the pair), so that guesses from elsewhere cannot lock its
# owner out; a success of the pair clears its failures before it. For a client
# address alone a success does not, or one valid account would reset the count
# of guesses at every other.
_EMAIL_LOCK = """
SELECT ceil(extract(epoch FROM max(at) + $4::interval - now()))::integer
FROM (
    SELECT at, count(*) OVER (ORDER BY at RANGE BETWEEN $3::interval PRECEDING AND CURRENT ROW) AS failures
    FROM login_attempts
    WHERE email_hash = $1 AND client_address = $6 AND attempt_id <> $2 AND outcome IN ('pending', 'failed')
      AND at > now() - $3::interval - $4::interval
      AND at > coalesce(
          (SELECT max(at) FROM login_attempts
            WHERE email_hash = $1 AND client_address = $6 AND outcome = 'succeeded'), '-infinity')
) AS recent
WHERE failures >= $5
"""
_CLIENT_LOCK = """
SELECT ceil(extract(epoch FROM max(at) + $4::interval - now()))::integer
FROM (
    SELECT at, count(*) OVER (ORDER BY at RANGE BETWEEN $3::interval PRECEDING AND CURRENT ROW) AS failures
    FROM login_attempts
    WHERE client_address = $1 AND attempt_id <> $2 AND outcome IN ('pending', 'failed')
      AND at > now() - $3::interval - $4::interval
) AS recent
WHERE failures >= $5
"""


# Failures at one e-mail address from every client in the window: past the limit, each
# further attempt at it waits a little before its password is looked at.
_EMAIL_FAILURES = """
SELECT count(*) FROM login_attempts
WHERE email_hash = $1 AND attempt_id <> $2 AND outcome = 'failed' AND at > now() - $3::interval
"""
SLOWDOWN_STEP: Final = 0.25
SLOWDOWN_MAX: Final = 3.0
"""Seconds an attempt at a much-guessed address waits per failure past the limit, and at most."""


async def attempt_login(
    pool: asyncpg.Pool, *, email: str, password: str, client_address: str, policy: LoginPolicy, key: bytes
) -> UserAccount | None:
    """The account for this e-mail and password, None when wrong; raises ``LoginThrottled`` when locked out.

    The attempt is written (and committed) before anything is checked, so
    that of many concurrent guesses at most the limit reach the password
    check. A locked-out e-mail is refused before its password is looked at,
    the same way whether or not it belongs to anyone.
    """
    digest = email_hash(email, key)
    client = client_address[:100]
    attempt_id = await pool.fetchval(
        "INSERT INTO login_attempts (email_hash, client_address) VALUES ($1, $2) RETURNING attempt_id", digest, client
    )
    waits = [
        await pool.fetchval(
            _EMAIL_LOCK, digest, attempt_id, policy.window, policy.lockout, policy.max_failures_per_email, client
        ),
        await pool.fetchval(
            _CLIENT_LOCK, client, attempt_id, policy.window, policy.lockout, policy.max_failures_per_client
        ),
    ]
    wait = max((w for w in waits if w is not None), default=0)
    if wait > 0:
        await _settle_attempt(pool, attempt_id, "refused")
        raise LoginThrottled(wait)
    # Guesses from many clients do not lock the owner out, but they are slowed: the owner waits a moment too.
    failures = int(await pool.fetchval(_EMAIL_FAILURES, digest, attempt_id, policy.window))
    if failures > policy.max_failures_per_email:
        await asyncio.sleep(min(SLOWDOWN_MAX, SLOWDOWN_STEP * (failures - policy.max_failures_per_email)))
    account = await authenticate(pool, email, password)
    await _settle_attempt(pool, attempt_id, "failed" if account is None else "succeeded")
    return account


async def _settle_attempt(pool: asyncpg.Pool, attempt_id: int, outcome: str) -> None:
    await pool.execute("UPDATE login_attempts SET outcome = $2 WHERE attempt_id = $1", attempt_id, outcome)


# -- Sessions -----------------------------------------------------------------


class SessionGrant(msgspec.Struct, frozen=True, kw_only=True):
    """What a login or a refresh hands out: the session, its next refresh token, who it is for."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    programme_id: uuid.UUID
    role: Role
    refresh_token: str
    refresh_expires_in: int


class SessionUser(msgspec.Struct, frozen=True, kw_only=True):
    """The user of an open session, as the database says now (the role may have changed since login)."""

    user_id: uuid.UUID
    programme_id: uuid.UUID
    role: Role


class RefreshRefused(Exception):
    """The refresh token is unknown, expired, already used, or its session has ended."""


async def open_session(pool: asyncpg.Pool, account: UserAccount, *, ttl: dt.timedelta) -> SessionGrant:
    """Start a session for a user who has just logged in; it ends at the latest after ``ttl``."""
    session_id = uuid.uuid4()
    token, digest = new_refresh_token()
    async with tenant_connection(pool, account.programme_id) as conn, conn.transaction():
        expires_in = await conn.fetchval(
            """INSERT INTO sessions (session_id, user_id, programme_id, expires_at)
               VALUES ($1, $2, $3, now() + $4::interval)
               RETURNING ceil(extract(epoch FROM expires_at - now()))::integer""",
            session_id,
            account.user_id,
            account.programme_id,
            ttl,
        )
        await conn.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) "
            "SELECT $1, session_id, expires_at FROM sessions WHERE session_id = $2",
            digest,
            session_id,
        )
    return SessionGrant(
        session_id=session_id,
        user_id=account.user_id,
        programme_id=account.programme_id,
        role=account.role,
        refresh_token=token,
        refresh_expires_in=expires_in,
    )


async def refresh_session(pool: asyncpg.Pool, refresh_token: str) -> SessionGrant:
    """Exchange a refresh token for the next one of its session; raises ``RefreshRefused``.

    A token already used is a copy in someone else's hands (or a client that
    lost the answer): its whole session is revoked, the holder of the newer
    token included. The row locks make two refreshes with one token take turns,
    so the second is seen as the reuse it is.
    """
    digest = refresh_token_digest(refresh_token)
    programme_id = await pool.fetchval("SELECT peoplelinks_refresh_programme($1)", digest)
    if programme_id is None:
        raise RefreshRefused()
    async with tenant_connection(pool, programme_id) as conn, conn.transaction():
        row = await conn.fetchrow(
            """SELECT r.session_id, r.used_at, r.expires_at > now() AS token_live,
                      s.revoked_at, s.expires_at > now() AS session_live,
                      u.user_id, u.programme_id, u.role, u.disabled_at
               FROM refresh_tokens r
               JOIN sessions s ON s.session_id = r.session_id
               JOIN users u ON u.user_id = s.user_id
               WHERE r.token_hash = $1
               FOR UPDATE OF r, s""",
            digest,
        )
        if row is None:
            grant = None
        elif row["used_at"] is not None:
            await conn.execute(
                """UPDATE sessions SET revoked_at = now(), revoked_reason = 'refresh_token_reused'
                   WHERE session_id = $1 AND revoked_at IS NULL""",
                row["session_id"],
            )
            grant = None
        elif (
            row["revoked_at"] is not None
            or not row["token_live"]
            or not row["session_live"]
            or row["disabled_at"] is not None
        ):
            grant = None
        else:
            token, next_digest = new_refresh_token()
            await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", digest)
            expires_in = await conn.fetchval(
                """INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
                   SELECT $1, session_id, expires_at FROM sessions WHERE session_id = $2
                   RETURNING ceil(extract(epoch FROM expires_at - now()))::integer""",
                next_digest,
                row["session_id"],
            )
            grant = SessionGrant(
                session_id=row["session_id"],
                user_id=row["user_id"],
                programme_id=row["programme_id"],
                role=row["role"],
                refresh_token=token,
                refresh_expires_in=expires_in,
            )
    # Raised only now, outside the transaction: the revocation above must commit.
    if grant is None:
        raise RefreshRefused()
    return grant


async def session_user(
    conn: Connection | asyncpg.Pool, session_id: uuid.UUID, user_id: uuid.UUID, programme_id: uuid.UUID
) -> SessionUser | None:
    """The user of this session if it is open and the user active, else None (one primary-key lookup).

    Asked before the request acts for a programme, through a definer function
    (migration 0008) that answers only this; a token naming another programme
    than its session's finds nothing.
    """
    row = await conn.fetchrow(
        "SELECT user_id, programme_id, role FROM peoplelinks_session_user($1, $2, $3)",
        session_id,
        user_id,
        programme_id,
    )
    if row is None:
        return None
    return SessionUser(user_id=row["user_id"], programme_id=row["programme_id"], role=row["role"])


async def end_session(pool: Connection | asyncpg.Pool, session_id: uuid.UUID) -> None:
    """Log out: the session's refresh token and access tokens stop working at once."""
    await pool.execute(
        """UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'
           WHERE session_id = $1 AND revoked_at IS NULL""",
        session_id,
    )


async def prune_authentication_records(conn: Connection | asyncpg.Pool, *, keep: dt.timedelta) -> None:
    """Forget login attempts older than ``keep`` and sessions that expired more than ``keep`` ago.

    Throttling looks back less than an hour; what is kept longer serves only
    investigations, and client addresses are personal data.
    """
    await conn.execute("DELETE FROM login_attempts WHERE at < now() - $1::interval", keep)
    await conn.execute("DELETE FROM sessions WHERE expires_at < now() - $1::interval", keep)
