"""The OpenAPI description of the event-recording bodies (events.md, Envelope), which the handlers read raw.

The recording routes decode their bodies themselves (one envelope or
``{"events": [...]}``, errors naming the field), so Litestar sees no ``data``
parameter to describe. The schemas here are built from the same event Structs
the handlers decode with, and added to those operations' OpenAPI entries only:
what the routes accept does not depend on them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.spec import Operation

from domain.events import EVENT_TYPES, EVENTS_BY_STREAM, Event, type_name_of
from domain.streams import StreamKind

_DEFS = "#/$defs/"
JsonSchema = dict[str, Any]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """The schema with every ``$ref`` replaced by its definition (the event types are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            return _inline(defs[ref.removeprefix(_DEFS)], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


def _data_schema(cls: type[Event]) -> JsonSchema:
    (ref,), defs = msgspec.json.schema_components([cls], ref_template=_DEFS + "{name}")
    schema: JsonSchema = _inline(ref, defs)
    # On the wire the type sits in the envelope, beside ``data``, not inside it.
    schema["properties"].pop("type", None)
    schema["required"] = [name for name in schema.get("required", []) if name != "type"]
    return schema


def envelope_schema(cls: type[Event], *, with_stream_id: bool = False) -> JsonSchema:
    """One event as a client sends it; ``with_stream_id`` for ``POST /v1/events:batch``."""
    properties: JsonSchema = {
        "type": {"const": type_name_of(cls)},
        "occurred_at": {"type": "string", "format": "date-time", "description": "RFC 3339 with offset"},
        "event_id": {
            "type": "string",
            "format": "uuid",
            "description": "the client's id for the event; a retry with the same id and content stores nothing new",
        },
        "data": _data_schema(cls),
    }
    required = ["type", "occurred_at", "data"]
    if with_stream_id:
        properties = {
            "stream_id": {
                "type": "string",
                "pattern": "^(participant|contact|employer)-[0-9a-fA-F-]{36}$",
                "description": "participant-<id>, contact-<id> or employer-<id>",
            },
            **properties,
        }
        required = ["stream_id", *required]
    return {
        "title": type_name_of(cls),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _events_list(items: JsonSchema) -> JsonSchema:
    return {
        "type": "object",
        "properties": {"events": {"type": "array", "minItems": 1, "items": items}},
        "required": ["events"],
        "additionalProperties": False,
    }


def stream_body_schema(kind: StreamKind) -> JsonSchema:
    """The body of ``POST /v1/{kind}s/{id}/events``: one envelope of the stream's events, or a list of them."""
    one = {"oneOf": [envelope_schema(cls) for cls in EVENTS_BY_STREAM[kind].values()]}
    return {"anyOf": [one, _events_list(one)]}


def batch_body_schema() -> JsonSchema:
    """The body of ``POST /v1/events:batch``: envelopes across streams, each naming its stream."""
    return _events_list({"oneOf": [envelope_schema(cls, with_stream_id=True) for cls in EVENT_TYPES.values()]})


def recording_operation(body: JsonSchema) -> type[Operation]:
    """An OpenAPI operation class (for ``operation_class=``) documenting ``body`` as the JSON request body."""

    class RecordingOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            result = super().to_schema()
            result["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
            return result

    return RecordingOperation


RECORDING_OPERATIONS: dict[str, type[Operation]] = {
    **{kind: recording_operation(stream_body_schema(kind)) for kind in ("participant", "contact", "employer")},
    "batch": recording_operation(batch_body_schema()),
}
