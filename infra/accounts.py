"""Programmes (the tenants) and their users: creation, password hashes (argon2id), lookups."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Literal

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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
    conn: asyncpg.Connection | asyncpg.Pool, *, programme_id: uuid.UUID, email: str, role: Role, password: str
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


async def authenticate(conn: asyncpg.Connection | asyncpg.Pool, email: str, password: str) -> UserAccount | None:
    """The active user with this e-mail and password, else None (same cost either way)."""
    row = await conn.fetchrow(
        "SELECT user_id, programme_id, email, role, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL",
        email.strip().lower(),
    )
    if row is None:
        await _verify(_DUMMY_HASH, password)
        return None
    if not await _verify(row["password_hash"], password):
        return None
    return UserAccount(user_id=row["user_id"], programme_id=row["programme_id"], email=row["email"], role=row["role"])


async def counselors_among(
    conn: asyncpg.Connection | asyncpg.Pool, programme_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
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
