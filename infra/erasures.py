"""Erasing a participant's or a contact's identity, and the ledger that keeps erasures erased after a restore.

An erasure destroys the subject's wrapped data key (``subject_keys.wrapped_key``
set to NULL, ``infra.crypto``): their name, e-mail address and phone number are
unreadable from then on wherever the events are, while every figure stays the
same. A backup taken before the erasure still holds the wrapped key, so every
erasure is also appended to the erasure ledger, a file kept outside the
database and its backups; ``reapply`` (``peoplelinks erasures reapply``)
destroys again the keys of every erasure it lists, and is run after any restore.

The ledger is written first and synced to disk before the key is destroyed:
if the database step then fails, the erasure is still listed and the next
``reapply`` or the admin's retry completes it; the reverse order could lose an
erasure that a later restore would undo. It holds ids and times only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import uuid
from pathlib import Path

import asyncpg
import msgspec

from domain.privacy import SubjectKind
from infra.crypto import Subject
from infra.db import Connection


class LedgerUnwritable(Exception):
    """The erasure ledger could not be written: nothing was erased."""


class Erasure(msgspec.Struct, frozen=True, kw_only=True):
    """One subject's identity destroyed: when, and by whom (a user id; none when re-applied by an operator)."""

    programme_id: uuid.UUID
    kind: SubjectKind
    subject_id: uuid.UUID
    erased_at: dt.datetime
    erased_by: uuid.UUID | None = None

    @property
    def subject(self) -> Subject:
        """The person erased."""
        return Subject(self.kind, self.subject_id)


_ERASURE_OF = """
SELECT programme_id, kind, subject_id, erased_at, erased_by FROM subject_keys
WHERE programme_id = $1 AND kind = $2 AND subject_id = $3 AND erased_at IS NOT NULL
"""


async def erasure_of(conn: Connection, programme_id: uuid.UUID, subject: Subject) -> Erasure | None:
    """The subject's erasure, if it is erased."""
    row = await conn.fetchrow(_ERASURE_OF, programme_id, subject.kind, subject.subject_id)
    return None if row is None else Erasure(**dict(row.items()))


async def erase(conn: Connection, erasure: Erasure) -> Erasure:
    """Destroy the subject's key as ``erasure`` says; idempotent, answering the first erasure when there was one.

    A subject with no key yet (all its events recorded before encryption at
    rest) gets an erased row all the same, so that no personal field can be
    recorded for it from now on.
    """
    await conn.execute(
        """INSERT INTO subject_keys (programme_id, kind, subject_id, wrapped_key, erased_at, erased_by)
           VALUES ($1, $2, $3, NULL, $4, $5)
           ON CONFLICT (programme_id, kind, subject_id) DO UPDATE
           SET wrapped_key = NULL, erased_at = excluded.erased_at, erased_by = excluded.erased_by
           WHERE subject_keys.erased_at IS NULL""",
        erasure.programme_id,
        erasure.kind,
        erasure.subject_id,
        erasure.erased_at,
        erasure.erased_by,
    )
    done = await erasure_of(conn, erasure.programme_id, erasure.subject)
    assert done is not None
    return done


_REAPPLY = """
INSERT INTO subject_keys (programme_id, kind, subject_id, wrapped_key, erased_at, erased_by)
SELECT x.programme_id, x.kind, x.subject_id, NULL, x.erased_at, x.erased_by
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::uuid[])
     AS x(programme_id, kind, subject_id, erased_at, erased_by)
WHERE x.programme_id IN (SELECT programme_id FROM programmes)
ON CONFLICT (programme_id, kind, subject_id) DO UPDATE
SET wrapped_key = NULL, erased_at = excluded.erased_at, erased_by = excluded.erased_by
WHERE subject_keys.erased_at IS NULL
RETURNING 1
"""


async def reapply(owner: asyncpg.Connection, erasures: list[Erasure]) -> int:
    """Destroy again every key ``erasures`` name that is readable (as after a restore); how many were.

    Runs as the owner, across programmes. A subject listed but absent from the
    database (restored from before its first event) gets an erased row, so that
    its personal fields cannot be recorded again either; programmes absent
    from the database are skipped.
    """
    first: dict[tuple[uuid.UUID, Subject], Erasure] = {}
    for erasure in sorted(erasures, key=lambda e: e.erased_at):
        first.setdefault((erasure.programme_id, erasure.subject), erasure)
    chosen = list(first.values())
    if not chosen:
        return 0
    async with owner.transaction():
        rows = await owner.fetch(
            _REAPPLY,
            [e.programme_id for e in chosen],
            [e.kind for e in chosen],
            [e.subject_id for e in chosen],
            [e.erased_at for e in chosen],
            [e.erased_by for e in chosen],
        )
    return len(rows)


class LedgerContents(msgspec.Struct, frozen=True, kw_only=True):
    """What a ledger file holds: its erasures, and the numbers of lines that could not be read."""

    erasures: list[Erasure]
    unreadable_lines: list[int]


_LINE_ENCODER = msgspec.json.Encoder()


class ErasureLedger:
    """An append-only file of erasures, one JSON object a line, kept apart from the database's backups."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def append(self, erasure: Erasure) -> None:
        """Add one erasure and wait until it is on disk; ``LedgerUnwritable`` when it cannot be."""
        try:
            await asyncio.to_thread(self._append, _LINE_ENCODER.encode(erasure) + b"\n")
        except OSError as e:
            # Not an OSError any more: the API answers those as "database unavailable".
            raise LedgerUnwritable(f"the erasure ledger {self.path} cannot be written ({e.strerror})") from e

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            # Several processes may erase at once: one writer at a time, each line whole.
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a line torn by a crash stays apart from this one
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> LedgerContents:
        """Every erasure listed (none when the file does not exist yet)."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return LedgerContents(erasures=[], unreadable_lines=[])
        erasures: list[Erasure] = []
        unreadable: list[int] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                erasures.append(msgspec.json.decode(line, type=Erasure))
            except msgspec.DecodeError:
                unreadable.append(number)
        return LedgerContents(erasures=erasures, unreadable_lines=unreadable)
