"""The names people know records by: a participant's display name, a contact's name, an employer's name.

Read models hold ids only; names live in the events, personal ones sealed under
their subject's key. They are read here through the same two steps as
``GET /v1/…/events``: the store's events (only those that name), then
``SubjectKeys.open_events``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from domain.privacy import ERASED
from domain.streams import StreamKind, stream_id_of
from infra.crypto import SubjectKeys
from infra.db import Connection
from infra.event_store import EventStore

NAMING_EVENTS: Final = frozenset(
    {"participant_enrolled", "contact_added", "contact_updated", "employer_added", "employer_updated"}
)


class RecordName(msgspec.Struct, frozen=True, kw_only=True):
    """What a page shows for a record: its name, and for a contact the organisation and role beside it."""

    record_id: uuid.UUID
    name: str
    detail: str | None = None


def _apply(names: dict[str, dict[str, Any]], stream_id: str, event_type: str, data: dict[str, Any]) -> None:
    current = names.setdefault(stream_id, {})
    if event_type == "participant_enrolled":
        current["name"] = data.get("profile", {}).get("display_name")
        return
    for field in ("name", "organization", "role"):
        if data.get(field) is not None:
            current[field] = data[field]


async def record_names(
    conn: Connection,
    store: EventStore,
    keys: SubjectKeys,
    programme_id: uuid.UUID,
    records: Iterable[tuple[StreamKind, uuid.UUID]],
) -> dict[uuid.UUID, RecordName]:
    """The current name of each record named (records that do not exist are left out)."""
    wanted = {stream_id_of(kind, record_id): record_id for kind, record_id in records}
    if not wanted:
        return {}
    naming = await store.read_streams_of_types(conn, programme_id, list(wanted), sorted(NAMING_EVENTS))
    opened = await keys.open_events(conn, programme_id, naming)
    found: dict[str, dict[str, Any]] = {}
    for event in opened.events:
        _apply(found, event.stream_id, event.type, event.data)
    names: dict[uuid.UUID, RecordName] = {}
    for stream_id, fields in found.items():
        detail = ", ".join(str(fields[f]) for f in ("role", "organization") if fields.get(f))
        names[wanted[stream_id]] = RecordName(
            record_id=wanted[stream_id], name=str(fields.get("name") or ERASED), detail=detail or None
        )
    return names


async def directory(
    conn: Connection, store: EventStore, keys: SubjectKeys, programme_id: uuid.UUID, kind: StreamKind
) -> list[RecordName]:
    """Every record of one kind in the programme, by name (for the pages' choosers)."""
    stream_ids = await store.records_of_kind(conn, programme_id, kind)
    ids = [(kind, uuid.UUID(stream_id.split("-", 1)[1])) for stream_id in stream_ids]
    names = await record_names(conn, store, keys, programme_id, ids)
    return sorted(names.values(), key=lambda n: (n.name.lower(), str(n.record_id)))
