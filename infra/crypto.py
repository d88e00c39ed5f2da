"""Encryption at rest of personal fields: a data key per participant or contact, wrapped under the master key.

Envelope encryption. Each subject (a participant or a contact; which fields are
personal is ``domain.privacy``'s) gets a random 256-bit data key in the
transaction that records its first personal field. The key is stored only
wrapped (AES-256-GCM under the master key, ``PEOPLELINKS_MASTER_KEY``, which
is never stored in the database) in ``subject_keys``. Each personal value is
stored in the event's ``data`` as ``pl:enc:v1:<base64 of nonce, ciphertext,
tag>``: AES-256-GCM under the subject's key with a random 96-bit nonce, and
the programme, the subject and the field path as associated data, so that a
value copied into another person's event, another field or another programme
does not open.

Erasure (``infra.erasures``) destroys the wrapped key: every value sealed under
it, in the events table and in every copy of it, is unreadable from then on,
while every other field, and so every figure, stays as it was. Readers open
events through ``SubjectKeys.open_events`` only, which shows ``[erased]`` in
place of what can no longer be opened.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.privacy import ERASED, PERSONAL_FIELDS, SUBJECT_KINDS, FieldPath, SubjectKind, path_name, replace_personal
from infra.db import Connection
from infra.event_store import RecordedEvent
from infra.settings import Settings

SEALED_PREFIX: Final = "pl:enc:v1:"
KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


class MasterKeyMissing(Exception):
    """``PEOPLELINKS_MASTER_KEY`` is unset or is not base64 of 32 bytes."""


class KeyUnusable(Exception):
    """A wrapped key or a sealed value does not open: another master key, or data changed behind our back."""


class SubjectErased(Exception):
    """A personal field was to be recorded for a subject whose identity was erased."""

    def __init__(self, subject: Subject) -> None:
        super().__init__(f"the {subject.kind} {subject.subject_id} was erased")
        self.subject = subject


class Subject(NamedTuple):
    """The person personal fields belong to: a participant or a contact, by the id of their stream."""

    kind: SubjectKind
    subject_id: uuid.UUID

    @classmethod
    def of_stream(cls, stream_id: str) -> Subject | None:
        """The subject of a stream, or None for a stream that is nobody's (an employer's)."""
        kind, _, raw = stream_id.partition("-")
        for subject_kind in SUBJECT_KINDS:
            if kind == subject_kind:
                try:
                    return cls(subject_kind, uuid.UUID(raw))
                except ValueError:
                    return None  # not a stream id (the rules say so to the client)
        return None


def parse_master_key(raw: str) -> bytes:
    """The 32 bytes of a master key written in base64 (standard or URL-safe, padded or not)."""
    text = raw.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise MasterKeyMissing("PEOPLELINKS_MASTER_KEY is not base64") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyMissing(f"PEOPLELINKS_MASTER_KEY must be {KEY_BYTES} bytes, it is {len(key)}")
    return key


def is_sealed(value: object) -> bool:
    """Whether a stored value is a sealed personal value (rather than one recorded before encryption at rest)."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _field_context(programme_id: uuid.UUID, subject: Subject, path: FieldPath) -> bytes:
    return f"peoplelinks:field:v1:{programme_id}:{subject.kind}:{subject.subject_id}:{path_name(path)}".encode()


def _key_context(programme_id: uuid.UUID, subject: Subject) -> bytes:
    return f"peoplelinks:subject-key:v1:{programme_id}:{subject.kind}:{subject.subject_id}".encode()


class DataKey:
    """One subject's data key, bound to its programme and subject: seals and opens that person's fields only."""

    def __init__(self, key: bytes, programme_id: uuid.UUID, subject: Subject) -> None:
        self._aead = AESGCM(key)
        self._programme_id = programme_id
        self.subject = subject

    def seal(self, path: FieldPath, value: str) -> str:
        """``value`` encrypted for the field at ``path`` (a fresh random nonce each time)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), _field_context(self._programme_id, self.subject, path))
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, path: FieldPath, sealed: str) -> str:
        """The value sealed for the field at ``path``; ``KeyUnusable`` when it was sealed for anything else."""
        try:
            raw = base64.b64decode(sealed.removeprefix(SEALED_PREFIX), validate=True)
            context = _field_context(self._programme_id, self.subject, path)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context).decode()
        except (binascii.Error, InvalidTag, ValueError) as e:
            raise KeyUnusable(f"a sealed {path_name(path)} of a {self.subject.kind} does not open") from e

    def seal_data(self, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """An event's ``data`` with its personal values sealed."""
        return replace_personal(event_type, data, self.seal)


def open_data(event_type: str, data: Mapping[str, Any], key: DataKey | None) -> dict[str, Any]:
    """An event's ``data`` as a reader sees it: sealed values opened, or ``[erased]`` when there is no key.

    A value stored before encryption at rest (not sealed) is shown as it is.
    """

    def opened(path: FieldPath, value: str) -> str:
        if not is_sealed(value):
            return value
        return ERASED if key is None else key.open(path, value)

    return replace_personal(event_type, data, opened)


class OpenedEvents(msgspec.Struct, frozen=True, kw_only=True):
    """Events as a reader sees them, and the subjects among them whose identity is erased."""

    events: list[RecordedEvent]
    erased: frozenset[Subject]


_SELECT_KEYS = """
SELECT k.kind, k.subject_id, k.wrapped_key
FROM subject_keys k JOIN unnest($2::text[], $3::uuid[]) AS x(kind, subject_id)
  ON k.kind = x.kind AND k.subject_id = x.subject_id
WHERE k.programme_id = $1
"""

# Makes the keys of the subjects that have none and answers the others' stored
# ones, in one round trip. Both parts see the snapshot from before the insert,
# so a subject appears once; one whose key a concurrent request made after that
# snapshot appears in neither, and is read again.
_KEYS_FOR_WRITING = """
WITH wanted AS (
    SELECT * FROM unnest($2::text[], $3::uuid[], $4::bytea[]) WITH ORDINALITY AS x(kind, subject_id, wrapped_key, n)
), made AS (
    INSERT INTO subject_keys (programme_id, kind, subject_id, wrapped_key)
    SELECT $1, kind, subject_id, wrapped_key FROM wanted ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING kind, subject_id, wrapped_key
)
SELECT kind, subject_id, wrapped_key, true AS made FROM made
UNION ALL
SELECT k.kind, k.subject_id, k.wrapped_key, false AS made
FROM subject_keys k JOIN wanted w ON k.kind = w.kind AND k.subject_id = w.subject_id
WHERE k.programme_id = $1
"""


class SubjectKeys:
    """The subjects' data keys of every programme, stored wrapped under one master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise MasterKeyMissing(f"the master key must be {KEY_BYTES} bytes")
        self._master = AESGCM(master_key)

    @classmethod
    def from_settings(cls, settings: Settings) -> SubjectKeys:
        """The keys under the configured master key; ``MasterKeyMissing`` says what to set when there is none."""
        if not settings.master_key:
            raise MasterKeyMissing(
                "set PEOPLELINKS_MASTER_KEY to a base64-encoded 32-byte key (openssl rand -base64 32) and keep it "
                "out of the database's backups: without it no participant's or contact's name can be read"
            )
        return cls(parse_master_key(settings.master_key))

    def _wrap(self, programme_id: uuid.UUID, subject: Subject, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, key, _key_context(programme_id, subject))

    def _unwrap(self, programme_id: uuid.UUID, subject: Subject, wrapped: bytes) -> DataKey:
        try:
            key = self._master.decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _key_context(programme_id, subject)
            )
        except InvalidTag as e:
            raise KeyUnusable("a subject's key does not open: is PEOPLELINKS_MASTER_KEY the one that made it?") from e
        return DataKey(key, programme_id, subject)

    async def _stored(
        self, conn: Connection, programme_id: uuid.UUID, subjects: Iterable[Subject]
    ) -> dict[Subject, bytes | None]:
        """The stored wrapped key of each subject that has a row (None once erased)."""
        wanted = sorted(set(subjects))
        if not wanted:
            return {}
        rows = await conn.fetch(_SELECT_KEYS, programme_id, [s.kind for s in wanted], [s.subject_id for s in wanted])
        return {Subject(row["kind"], row["subject_id"]): row["wrapped_key"] for row in rows}

    async def for_writing(
        self, conn: Connection, programme_id: uuid.UUID, subjects: Collection[Subject]
    ) -> dict[Subject, DataKey]:
        """Each subject's key, made for those that have none; ``SubjectErased`` for an erased one.

        Call it inside the transaction that stores what the keys seal, so that a
        new key commits (or not) with the events that first use it. Keys are
        made in one sorted order, so two requests making the same keys wait for
        each other rather than deadlock; the loser of such a race uses the
        winner's key.
        """
        wanted = sorted(set(subjects))
        fresh = {s: os.urandom(KEY_BYTES) for s in wanted}
        rows = await conn.fetch(
            _KEYS_FOR_WRITING,
            programme_id,
            [s.kind for s in wanted],
            [s.subject_id for s in wanted],
            [self._wrap(programme_id, s, fresh[s]) for s in wanted],
        )
        keys: dict[Subject, DataKey] = {}
        stored: dict[Subject, bytes | None] = {}
        for row in rows:
            subject = Subject(row["kind"], row["subject_id"])
            if row["made"]:
                keys[subject] = DataKey(fresh[subject], programme_id, subject)
            else:
                stored[subject] = row["wrapped_key"]
        raced = set(wanted) - set(keys) - set(stored)
        if raced:
            stored |= await self._stored(conn, programme_id, raced)
        for subject, wrapped in sorted(stored.items()):
            if wrapped is None:
                raise SubjectErased(subject)
            keys[subject] = self._unwrap(programme_id, subject, wrapped)
        return keys

    async def open_events(
        self, conn: Connection, programme_id: uuid.UUID, events: Sequence[RecordedEvent]
    ) -> OpenedEvents:
        """``events`` with their personal fields opened: the one decryption every reader goes through."""
        personal = {e.stream_id for e in events if e.type in PERSONAL_FIELDS}
        subjects = {s for s in map(Subject.of_stream, personal) if s is not None}
        stored = await self._stored(conn, programme_id, subjects)
        keys = {s: None if w is None else self._unwrap(programme_id, s, w) for s, w in stored.items()}
        opened = [
            msgspec.structs.replace(e, data=open_data(e.type, e.data, keys.get(subject)))
            if e.type in PERSONAL_FIELDS and (subject := Subject.of_stream(e.stream_id)) is not None
            else e
            for e in events
        ]
        return OpenedEvents(events=opened, erased=frozenset(s for s, w in stored.items() if w is None))
