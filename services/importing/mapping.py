"""An import mapping: which event each row of another system's export makes, and from which columns.

Pure: reading a mapping and mapping one row are functions of their inputs (the
programme's users, time zone and id namespace come in through ``MappingContext``),
so that both are tested without a database. ``docs/importing.md`` describes the
file; ``docs/examples/import-mapping.toml`` is one for a typical export.

Ids are deterministic (uuid5 under a namespace of the programme and the source
system): the same source key always gives the same participant, contact or
event id, so importing a file again, or a later export that overlaps it, maps
to what is stored already. Reasons never quote a row's values, only columns,
fields and what was expected: a value may be someone's name.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import tomllib
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

import msgspec
import msgspec.inspect as mi

from domain.events import CREATION_EVENTS, EVENT_TYPES, EVENTS_BY_STREAM, Event, StreamKind
from domain.streams import STREAM_KINDS, stream_id_of
from services.recording import IncomingEvent

IMPORT_NAMESPACE: Final = uuid.UUID("5f0c1d2e-8a47-4c3b-9a1e-2d6b7c4e9f10")
"""The root of every imported id. Never change it: a re-run would map to new ids and store everything twice."""

NOON: Final = dt.time(12)
"""When a dated row happened, when the export gives only its day: midday, far from either day's edge."""

SourceFormat: TypeAlias = Literal["csv", "jsonl"]
FieldPath: TypeAlias = tuple[str, ...]

_SPEC_KEYS: Final = frozenset({"column", "value", "default", "values", "format", "split", "strip", "id", "user"})


class MappingError(Exception):
    """The mapping cannot be used: ``where`` names the key of the mapping file that is wrong."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where one event field's value comes from, and how it is turned into what the event takes."""

    column: str | None = None
    """The source column (CSV header or JSON key) holding the value."""
    value: Any = msgspec.UNSET
    """A constant, for a field no column fills."""
    default: Any = msgspec.UNSET
    """What the field takes when the column is empty or absent."""
    values: dict[str, Any] | None = None
    """Translations of source values, e.g. ``{"E-mail": "email"}``; matched exactly, then ignoring case and spaces."""
    format: str | None = None
    """``strptime`` format of a date or time (ISO 8601 is always understood too)."""
    split: str | None = None
    """For a list field: the separator between its items in one cell."""
    strip: str = ""
    """Characters removed from both ends of the value, e.g. ``"$"`` for a wage written ``$17.50``."""
    id: str | None = None
    """The value is a source key in this id space (``contact``, ``employer``, ``outreach``, …); the field takes
    the uuid derived from it. Without ``column``: an id derived from the row's own event id (a new outreach)."""
    user: Literal["email"] | None = None
    """The value is the e-mail address of one of the programme's users; the field takes their user id."""


class Source(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the export is written, and which system wrote it."""

    system: str
    """Names the source system; part of every id, so that two systems' key 17 are two people."""
    kind_column: str | None = None
    """The column whose value says what a row is (``when`` of each kind)."""
    skip: tuple[str, ...] = ()
    """Values of ``kind_column`` whose rows are skipped (counted, not rejected)."""
    date_formats: tuple[str, ...] = ()
    """``strptime`` formats of the export's dates, tried in order before ISO 8601."""
    time_zone: str | None = None
    """Where the export's local times and days are; default: the programme's time zone."""
    format: SourceFormat | None = None
    delimiter: str = ","
    encoding: str = "utf-8-sig"


class RowKind(msgspec.Struct, frozen=True, kw_only=True):
    """One kind of row: the event it makes, the record it goes to, and where each field comes from."""

    name: str
    when: tuple[str, ...]
    event: str
    stream: StreamKind
    record: FieldSpec
    occurred_at: FieldSpec
    key: tuple[str, ...]
    data: tuple[tuple[FieldPath, FieldSpec], ...]

    @property
    def creates(self) -> bool:
        """Whether this kind's event opens its record (an enrolment, a contact or an employer added)."""
        return EVENT_TYPES[self.event] is CREATION_EVENTS[self.stream]

    def column_of(self, field: str) -> str:
        """The source column(s) behind an event field path (``data.channel``, ``occurred_at``, …), if any."""
        if field == "occurred_at":
            return self.occurred_at.column or ""
        if field == "stream_id":
            return self.record.column or ""
        if field == "event_id":
            return ", ".join(self.key)
        path = tuple(re.sub(r"\[\d+\]", "", field.removeprefix("data.")).split("."))
        for spec_path, spec in self.data:
            if spec_path == path:
                return spec.column or ""
        return ""


class ImportMapping(msgspec.Struct, frozen=True, kw_only=True):
    """A whole mapping file, checked against the event catalogue."""

    source: Source
    kinds: dict[str, RowKind]

    def kind_for(self, value: str) -> RowKind | None:
        """The kind a ``kind_column`` value chooses: exactly, else ignoring case and spaces."""
        for kind in self.kinds.values():
            if value in kind.when:
                return kind
        wanted = _loose(value)
        for kind in self.kinds.values():
            if wanted in {_loose(w) for w in kind.when}:
                return kind
        return None

    def check_kind_option(self, kind_name: str | None) -> None:
        """Raise ``MappingError`` unless rows can be told apart: by ``kind_column``, ``--kind`` or a single kind."""
        if kind_name is not None and kind_name not in self.kinds:
            raise MappingError("--kind", f"the mapping has no kind {kind_name!r}; it has {', '.join(self.kinds)}")
        if kind_name is None and self.source.kind_column is None and len(self.kinds) > 1:
            raise MappingError(
                "source.kind_column",
                "the mapping has several kinds: set source.kind_column, or name the file's kind with --kind",
            )

    def skips(self, value: str) -> bool:
        """Whether a ``kind_column`` value marks a row to skip."""
        return value in self.source.skip or _loose(value) in {_loose(s) for s in self.source.skip}


class MappingContext(msgspec.Struct, frozen=True, kw_only=True):
    """What mapping a row needs from the programme: its id namespace, its time zone and its users."""

    namespace: uuid.UUID
    time_zone: dt.tzinfo
    users_by_email: Mapping[str, uuid.UUID]
    """Lower-cased e-mail address → user id."""


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the export: the line it starts on and its values by column."""

    line: int
    values: dict[str, Any]


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """The event one row makes, ready for the Recorder."""

    line: int
    kind: str
    incoming: IncomingEvent


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """A row not stored: its line, the event field and source column at fault, and why."""

    line: int
    field: str
    reason: str
    column: str = ""
    stream_id: str = ""
    """The record the row was for, when known: rows that depend on it are rejected with a reason naming this line."""
    opens: bool = False
    """Whether the row would have opened its record (an enrolment, a contact or an employer added)."""

    def describe(self) -> str:
        """``data.channel (column Method): why``, as the report prints it."""
        origin = f" (column {self.column})" if self.column else ""
        where = f"{self.field}{origin}: " if self.field or origin else ""
        return f"{where}{self.reason}"


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """A row the mapping says to skip."""

    line: int


def namespace_of(programme_id: uuid.UUID, system: str) -> uuid.UUID:
    """The namespace of every id one source system's exports make in one programme."""
    return uuid.uuid5(IMPORT_NAMESPACE, f"{programme_id}/{system}")


# --- reading a mapping -------------------------------------------------------------------------


def load_mapping(path: Path) -> ImportMapping:
    """Read and check a mapping file: TOML (``.toml``) or JSON (any other name). Raises ``MappingError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MappingError("", f"cannot read the mapping {path}: {e}") from None
    try:
        raw = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        language = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise MappingError("", f"the mapping {path} is not valid {language}: {e}") from None
    if not isinstance(raw, dict):
        raise MappingError("", "the mapping must be a table (TOML) or an object (JSON)")
    return build_mapping(raw)


def build_mapping(raw: Mapping[str, Any]) -> ImportMapping:
    """Check a mapping's contents against the event catalogue. Raises ``MappingError`` naming the key."""
    unknown = sorted(set(raw) - {"source", "kinds"})
    if unknown:
        raise MappingError(unknown[0], "unknown key; a mapping has [source] and [kinds.NAME] tables")
    source = _convert(raw.get("source"), Source, "source")
    if not source.system.strip():
        raise MappingError("source.system", "name the source system (it is part of every imported id)")
    if source.time_zone is not None:
        try:
            zoneinfo.ZoneInfo(source.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise MappingError("source.time_zone", "not a time zone name such as America/Chicago") from None
    kinds_raw = raw.get("kinds")
    if not isinstance(kinds_raw, dict) or not kinds_raw:
        raise MappingError("kinds", "the mapping needs at least one [kinds.NAME] table")
    kinds = {name: _row_kind(name, table) for name, table in kinds_raw.items()}
    seen: dict[str, str] = {}
    for kind in kinds.values():
        for value in kind.when:
            other = seen.setdefault(_loose(value), kind.name)
            if other != kind.name:
                raise MappingError(f"kinds.{kind.name}.when", f"kinds {other} and {kind.name} both take one value")
    return ImportMapping(source=source, kinds=kinds)


def _convert(value: Any, type_: type[Any], where: str) -> Any:
    try:
        return msgspec.convert(value if value is not None else {}, type=type_)
    except msgspec.ValidationError as e:
        message, path = _split_error(str(e))
        field = path.lstrip(".")
        named = re.search(r"`([^`]+)`", message) if "field" in message else None
        if named and not field:
            field = named.group(1)
        raise MappingError(f"{where}.{field}" if field else where, message) from None


def _field_spec(value: Any, where: str) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(column=value)
    if not isinstance(value, dict):
        raise MappingError(where, 'expected a column name or a table such as { column = "Method" }')
    spec: FieldSpec = _convert(value, FieldSpec, where)
    if spec.column is None and spec.value is msgspec.UNSET and spec.id is None:
        raise MappingError(where, "needs a column, a constant value, or an id to derive")
    if spec.column is not None and spec.value is not msgspec.UNSET:
        raise MappingError(where, "has both column and value: use default for what an empty cell stands for")
    return spec


def _row_kind(name: str, table: Any) -> RowKind:
    where = f"kinds.{name}"
    if not isinstance(table, dict):
        raise MappingError(where, "expected a table")
    unknown = sorted(set(table) - {"when", "event", "stream", "record", "occurred_at", "key", "data"})
    if unknown:
        raise MappingError(f"{where}.{unknown[0]}", "unknown key")
    event = table.get("event")
    if event not in EVENT_TYPES:
        raise MappingError(f"{where}.event", f"names no event type; one of {', '.join(sorted(EVENT_TYPES))}")
    streams = [kind for kind in STREAM_KINDS if event in EVENTS_BY_STREAM[kind]]
    stream = table.get("stream", streams[0] if len(streams) == 1 else None)
    if stream not in streams:
        raise MappingError(f"{where}.stream", f"{event} goes to a stream of kind {' or '.join(streams)}; name one")
    for needed in ("record", "occurred_at"):
        if needed not in table:
            raise MappingError(f"{where}.{needed}", "missing: every kind says " + _REQUIRED_KEY[needed])
    when = table.get("when", name)
    when_values = (when,) if isinstance(when, str) else tuple(when) if isinstance(when, list) else None
    if not when_values or not all(isinstance(w, str) for w in when_values):
        raise MappingError(f"{where}.when", "expected a value of the kind column, or a list of them")
    key = table.get("key", [])
    key_columns = (key,) if isinstance(key, str) else tuple(key) if isinstance(key, list) else None
    if key_columns is None or not all(isinstance(k, str) and k for k in key_columns):
        raise MappingError(f"{where}.key", "expected a column name or a list of them")
    cls = EVENT_TYPES[event]
    types = _field_types(cls)
    data = tuple(_data_specs(table.get("data", {}), (), f"{where}.data", types))
    mapped = {path for path, _spec in data}
    for path, (_type, required) in types.items():
        if required and path not in mapped and not any(m[: len(path)] == path for m in mapped):
            raise MappingError(f"{where}.data", f"{'.'.join(path)} is required by {event} and not mapped")
    return RowKind(
        name=name,
        when=when_values,
        event=event,
        stream=stream,
        record=_field_spec(table["record"], f"{where}.record"),
        occurred_at=_field_spec(table["occurred_at"], f"{where}.occurred_at"),
        key=key_columns,
        data=data,
    )


_REQUIRED_KEY: Final = {
    "record": 'which column holds the source\'s key of the participant, contact or employer (record = "Client ID")',
    "occurred_at": 'when the row happened (occurred_at = "Date", or { value = "2025-01-06" })',
}


def _data_specs(
    table: Any, prefix: FieldPath, where: str, types: Mapping[FieldPath, tuple[mi.Type, bool]]
) -> list[tuple[FieldPath, FieldSpec]]:
    if not isinstance(table, dict):
        raise MappingError(where, "expected a table of event fields")
    specs: list[tuple[FieldPath, FieldSpec]] = []
    for name, value in table.items():
        path = (*prefix, name)
        at = f"{where}.{name}"
        if path not in types:
            known = sorted(
                ".".join(p[len(prefix) :]) for p in types if p[: len(prefix)] == prefix and len(p) > len(prefix)
            )
            raise MappingError(at, f"the event has no such field; it has {', '.join(known)}")
        field_type = _bare(types[path][0])
        if isinstance(field_type, mi.StructType):
            specs.extend(_data_specs(value, path, at, types))
            continue
        spec = _field_spec(value, at)
        item_type = _bare(field_type.item_type) if isinstance(field_type, mi.ListType) else field_type
        if (spec.id is not None or spec.user is not None) and not isinstance(item_type, mi.UUIDType):
            raise MappingError(at, "id and user fill only id fields (contact_id, employer_id, …)")
        if spec.split is not None and not isinstance(field_type, mi.ListType):
            raise MappingError(at, "split fills only list fields (target_titles, …)")
        specs.append((path, spec))
    return specs


@functools.cache
def _field_types(cls: type[Event]) -> dict[FieldPath, tuple[mi.Type, bool]]:
    """Every field of an event class by path (nested structs included): its type and whether it is required."""
    found: dict[FieldPath, tuple[mi.Type, bool]] = {}

    def walk(info: mi.StructType, prefix: FieldPath) -> None:
        for field in info.fields:
            path = (*prefix, field.encode_name)
            found[path] = (field.type, field.required)
            bare = _bare(field.type)
            if isinstance(bare, mi.StructType):
                walk(bare, path)

    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    walk(info, ())
    return found


def _bare(field_type: mi.Type) -> mi.Type:
    """The type without its ``| None`` and its constraints."""
    if isinstance(field_type, mi.Metadata):
        return _bare(field_type.type)
    if isinstance(field_type, mi.UnionType):
        others = [t for t in field_type.types if not isinstance(t, mi.NoneType)]
        if len(others) == 1:
            return _bare(others[0])
    return field_type


# --- mapping a row ------------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, field: str, reason: str, column: str = "") -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.column = column
        self.stream_id = ""


class _Absent:
    """No value: the column is missing from the row, or its cell is empty."""

    def __init__(self, missing_column: bool) -> None:
        self.missing_column = missing_column


def map_row(
    mapping: ImportMapping, row: Row, context: MappingContext, *, kind_name: str | None = None
) -> Candidate | Rejection | Skipped:
    """The event one row makes, or why it makes none. ``kind_name`` (``--kind``) names the kind of every row."""
    try:
        kind = _kind_of(mapping, row, kind_name)
    except _Bad as bad:
        return Rejection(line=row.line, field=bad.field, reason=bad.reason, column=bad.column)
    if kind is None:
        return Skipped(line=row.line)
    try:
        return Candidate(line=row.line, kind=kind.name, incoming=_incoming(mapping, kind, row, context))
    except _Bad as bad:
        return Rejection(
            line=row.line,
            field=bad.field,
            reason=bad.reason,
            column=bad.column,
            stream_id=bad.stream_id,
            opens=kind.creates,
        )


def _kind_of(mapping: ImportMapping, row: Row, kind_name: str | None) -> RowKind | None:
    if kind_name is not None:
        return mapping.kinds[kind_name]
    column = mapping.source.kind_column
    if column is None:
        return next(iter(mapping.kinds.values()))
    value = row.values.get(column)
    text = "" if value is None else str(value).strip()
    if not text:
        raise _Bad(
            "type",
            f"{'the column is not in this row' if value is None else 'the cell is empty'}: it says what the row is",
            column,
        )
    if mapping.skips(text):
        return None
    kind = mapping.kind_for(text)
    if kind is None:
        takes = sorted({w for k in mapping.kinds.values() for w in k.when} | set(mapping.source.skip))
        raise _Bad("type", f"a value that no kind of the mapping takes, nor skips ({', '.join(takes)})", column)
    return kind


def _incoming(mapping: ImportMapping, kind: RowKind, row: Row, context: MappingContext) -> IncomingEvent:
    record_key = _key_text(row, kind.record, "stream_id", "the record's key")
    stream_id = stream_id_of(kind.stream, uuid.uuid5(context.namespace, f"{kind.stream}/{record_key}"))
    try:
        return _event_of(mapping, kind, row, context, stream_id)
    except _Bad as bad:
        bad.stream_id = stream_id
        raise


def _event_of(
    mapping: ImportMapping, kind: RowKind, row: Row, context: MappingContext, stream_id: str
) -> IncomingEvent:
    cls = EVENT_TYPES[kind.event]
    types = _field_types(cls)
    occurred_at = _occurred_at(mapping, kind, row, context)
    data: dict[str, Any] = {}
    derived: list[tuple[FieldPath, FieldSpec]] = []
    for path, spec in kind.data:
        if spec.id is not None and spec.column is None:
            derived.append((path, spec))  # from the event id, known once the rest is
            continue
        value = _field_value(mapping, spec, row, context, path, types[path])
        if value is not None:
            _put(data, path, value)
    if kind.key:
        event_key = "\x1f".join(
            _key_text(row, FieldSpec(column=c), "event_id", "part of the row's key") for c in kind.key
        )
    elif kind.creates:
        event_key = ""  # one creation per record: a second row for the same record is the same event
    else:
        content = msgspec.json.encode([occurred_at.isoformat(), data], order="sorted")
        event_key = "content/" + hashlib.sha256(content).hexdigest()
    event_id = uuid.uuid5(context.namespace, f"event/{kind.event}/{stream_id}/{event_key}")
    for path, spec in derived:
        _put(data, path, str(uuid.uuid5(context.namespace, f"{spec.id}/event/{event_id}")))
    try:
        event = msgspec.convert(data, type=cls, strict=False)
    except msgspec.ValidationError as e:
        raise _validation_rejection(e, kind, types) from None
    return IncomingEvent(stream_id=stream_id, event_id=event_id, occurred_at=occurred_at, event=event)


def _put(data: dict[str, Any], path: FieldPath, value: Any) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


def _cell(row: Row, column: str) -> Any:
    """The cell's value, stripped, or ``_Absent`` for a missing column or an empty cell."""
    if column not in row.values:
        return _Absent(missing_column=True)
    value = row.values[column]
    if isinstance(value, str):
        value = value.strip()
    if value is None or value in ("", []):
        return _Absent(missing_column=False)
    return value


def _absent_reason(column: str, absent: _Absent) -> str:
    del column  # the report names it beside the reason
    return "the column is not in this row" if absent.missing_column else "the cell is empty"


def _key_text(row: Row, spec: FieldSpec, field: str, what: str) -> str:
    if spec.column is None:
        if spec.value is msgspec.UNSET:
            raise _Bad(field, f"{what} needs a column")
        return str(spec.value)
    value = _cell(row, spec.column)
    if isinstance(value, _Absent):
        raise _Bad(field, f"{_absent_reason(spec.column, value)}: it is {what}", spec.column)
    value = str(value).strip(spec.strip) if spec.strip else str(value)
    return value


def _field_value(
    mapping: ImportMapping,
    spec: FieldSpec,
    row: Row,
    context: MappingContext,
    path: FieldPath,
    typed: tuple[mi.Type, bool],
) -> Any:
    """One field's value as the event class takes it (before msgspec's own checks), or None when it is absent."""
    field = "data." + ".".join(path)
    field_type, required = typed
    bare = _bare(field_type)
    column = spec.column or ""
    if spec.column is None:
        value: Any = spec.value
        from_source = False
    else:
        value = _cell(row, spec.column)
        from_source = True
    if isinstance(value, _Absent):
        if spec.default is not msgspec.UNSET:
            value = spec.default
            from_source = False
        elif required:
            raise _Bad(field, f"{_absent_reason(column, value)}, and {'.'.join(path)} is required", column)
        else:
            return None
    if isinstance(bare, mi.ListType):
        items = value if isinstance(value, list) else [value]
        if spec.split is not None and from_source and isinstance(value, str):
            items = [part for part in value.split(spec.split) if part.strip()]
        item_type = _bare(bare.item_type)
        return [_item_value(mapping, spec, item, context, field, column, item_type, from_source) for item in items]
    return _item_value(mapping, spec, value, context, field, column, bare, from_source)


def _item_value(
    mapping: ImportMapping,
    spec: FieldSpec,
    value: Any,
    context: MappingContext,
    field: str,
    column: str,
    bare: mi.Type,
    from_source: bool,
) -> Any:
    if from_source:
        if isinstance(value, str):
            value = value.strip()
            if spec.strip:
                value = value.strip(spec.strip)
        if spec.values is not None and isinstance(value, str):
            value = _translate(spec.values, value)
    if spec.id is not None:
        return str(uuid.uuid5(context.namespace, f"{spec.id}/{value}"))
    if spec.user is not None:
        user_id = context.users_by_email.get(str(value).strip().lower())
        if user_id is None:
            raise _Bad(field, "names no user of this programme (by e-mail address)", column)
        return str(user_id)
    if isinstance(bare, mi.DateType) and isinstance(value, str):
        formats = (spec.format,) if spec.format else mapping.source.date_formats
        day = _parse_date(value, formats)
        if day is None:
            raise _Bad(field, f"not a date {_formats_said(formats)}", column)
        return day.isoformat()
    return value


def _translate(values: Mapping[str, Any], value: str) -> Any:
    """The translation of a source value, or the value itself when the table has none (msgspec judges it)."""
    if value in values:
        return values[value]
    loose = _loose(value)
    for source, target in values.items():
        if _loose(source) == loose:
            return target
    return value


def _loose(text: str) -> str:
    return " ".join(text.split()).casefold()


def _parse_date(text: str, formats: Sequence[str]) -> dt.date | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _formats_said(formats: Sequence[str]) -> str:
    return f"in the format {' or '.join([*formats, 'YYYY-MM-DD'])}"


def _has_time(fmt: str) -> bool:
    return any(directive in fmt for directive in ("%H", "%I", "%M", "%X", "%c", "%T"))


def _occurred_at(mapping: ImportMapping, kind: RowKind, row: Row, context: MappingContext) -> dt.datetime:
    """When the row happened: a day alone is taken as noon in the source's time zone."""
    spec = kind.occurred_at
    column = spec.column or ""
    value: Any = spec.value if spec.column is None else _cell(row, spec.column)
    if isinstance(value, _Absent):
        if spec.default is msgspec.UNSET:
            raise _Bad("occurred_at", f"{_absent_reason(column, value)}: it says when the row happened", column)
        value = spec.default
    text = str(value).strip()
    zone = zoneinfo.ZoneInfo(mapping.source.time_zone) if mapping.source.time_zone else context.time_zone
    formats = (spec.format,) if spec.format else mapping.source.date_formats
    for fmt in formats:
        try:
            parsed = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if not _has_time(fmt):
            return dt.datetime.combine(parsed.date(), NOON, tzinfo=zone)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), NOON, tzinfo=zone)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad("occurred_at", f"not a date {_formats_said(formats)}, nor an ISO 8601 time", column) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


_AT: Final = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _split_error(text: str) -> tuple[str, str]:
    match = _AT.match(text)
    if match is None:
        return text, ""
    return match.group("msg"), match.group("path") or ""


def _validation_rejection(error: msgspec.ValidationError, kind: RowKind, types: Mapping[FieldPath, Any]) -> _Bad:
    """msgspec's refusal as a rejection naming the field and column, without quoting the value."""
    message, path = _split_error(str(error))
    named = re.search(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`", message)
    if named:
        path = f"{path}.{named.group('name')}"
    dotted = re.sub(r"\[\d+\]", "", path.lstrip("."))
    field = f"data.{path.lstrip('.')}" if path else "data"
    column = kind.column_of(field)
    if message.startswith("Invalid enum value"):
        field_type = types.get(tuple(dotted.split(".")))
        bare = _bare(field_type[0]) if field_type else None
        if isinstance(bare, mi.ListType):
            bare = _bare(bare.item_type)
        allowed = ", ".join(str(v) for v in bare.values) if isinstance(bare, mi.LiteralType) else "the catalogue's"
        message = f"not one of {allowed}: add its translation to values in the mapping"
    elif "matching regex" in message:
        message = message.split(" matching regex", 1)[0].replace("Expected `str`", "expected text of the right form")
        if dotted.endswith("wage"):
            message = 'expected a decimal such as 17.50 (strip = "$" removes a currency sign)'
    return _Bad(field, message, column)
