"""Recording and reading events: thin controllers over ``services.recording``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, HeaderParameter

from domain.events import EVENT_TYPES, decode_data
from domain.rules import RuleViolation
from domain.streams import StreamKind, stream_id_of, stream_kind
from infra.crypto import SubjectKeys
from infra.db import tenant_connection
from infra.event_store import AppendResult, EventStore, Metadata, RecordedEvent
from services.api.event_envelopes import RECORDING_OPERATIONS
from services.api.problems import InvalidRequest, NotFound, field_of_validation_error, problem_responses
from services.api.scope import check_assigned, participant_scoped
from services.api.security import Principal, audit_participant, roles
from services.recording import IncomingEvent, Recorder

RECORDERS = ("admin", "staff", "counselor")
RECORD_PROBLEMS = problem_responses(400, 401, 403, 409, 413, 422)
READ_PROBLEMS = problem_responses(400, 401, 403, 404)
# Read by the handlers from the request itself; declared for the OpenAPI document.
IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description=(
            "expected stream version (0 for a new stream): 409 when the stream is at another. Without it no "
            "version is asked for and a lost race is never 409: the append is retried until it lands, or for a "
            "few seconds at most (then 503 with Retry-After: send the same request again)"
        ),
    ),
]


class EnvelopeIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One event as a client sends it to a stream's endpoint (events.md, Envelope)."""

    type: str
    occurred_at: Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339 with offset")]
    data: msgspec.Raw
    event_id: uuid.UUID | None = None


class BatchEnvelopeIn(EnvelopeIn, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One event of ``POST /v1/events:batch``: the envelope and the stream it goes to."""

    stream_id: str


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    """What the recording routes need, as one dependency (Litestar resolves two or more in a task group)."""

    recorder: Recorder
    max_events: int


class AppendOut(msgspec.Struct, frozen=True, kw_only=True):
    """What one stream's append stored."""

    stream_id: str
    stream_version: int
    global_position: int
    event_ids: list[uuid.UUID]


class BatchOut(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch stored: one result a stream, in the order the streams first appear."""

    global_position: int
    results: list[AppendOut]


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    """A stored event with its envelope, as read back."""

    type: str
    event_id: uuid.UUID
    occurred_at: dt.datetime
    data: dict[str, Any]
    stream_id: str
    stream_version: int
    global_position: int
    recorded_at: dt.datetime
    schema_version: int
    metadata: dict[str, Any]
    voided: bool
    voided_by: uuid.UUID | None


class StreamOut(msgspec.Struct, frozen=True, kw_only=True):
    """A whole stream; ``erased`` when its person's identity was erased (their personal fields read "[erased]")."""

    stream_id: str
    version: int
    events: list[EventOut]
    erased: bool = False


def _decode_event(raw: bytes | msgspec.Raw, field: str, stream_id: str | None) -> IncomingEvent:
    envelope_type = EnvelopeIn if stream_id is not None else BatchEnvelopeIn
    try:
        envelope = msgspec.json.decode(raw, type=envelope_type)
    except msgspec.ValidationError as e:
        error = field_of_validation_error(e, field)
        raise InvalidRequest(error.field, error.message) from None
    target = stream_id if stream_id is not None else envelope.stream_id  # type: ignore[attr-defined]
    prefix = f"{field}." if field else ""
    if envelope.type not in EVENT_TYPES:
        raise InvalidRequest(f"{prefix}type", f"unknown event type {envelope.type!r}")
    try:
        event = decode_data(envelope.type, bytes(envelope.data))
    except msgspec.ValidationError as e:
        error = field_of_validation_error(e, f"{prefix}data")
        raise InvalidRequest(error.field, error.message) from None
    return IncomingEvent(
        stream_id=target,
        event_id=envelope.event_id or uuid.uuid4(),
        occurred_at=envelope.occurred_at,
        event=event,
        field=field,
    )


def _decode_body(body: bytes, stream_id: str | None, max_events: int) -> list[IncomingEvent]:
    """One envelope, or ``{"events": [...]}``; ``stream_id`` None means the cross-stream batch."""
    if not body.strip():
        raise InvalidRequest("body", 'the body is empty: send an event envelope or {"events": [...]}')
    try:
        top = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    except msgspec.ValidationError:
        raise InvalidRequest("body", "the body must be a JSON object") from None
    except msgspec.DecodeError as e:
        raise InvalidRequest("body", f"the body is not valid JSON: {e}", status=400) from None
    if stream_id is not None and "events" not in top:
        return [_decode_event(body, "", stream_id)]
    if set(top) != {"events"}:
        extra = sorted(set(top) - {"events"})
        raise InvalidRequest(extra[0] if extra else "events", 'expected {"events": [...]} and nothing else')
    try:
        raws = msgspec.json.decode(top["events"], type=list[msgspec.Raw])
    except msgspec.ValidationError:
        raise InvalidRequest("events", "events must be a list of event envelopes") from None
    if not raws:
        raise InvalidRequest("events", "events is empty")
    if len(raws) > max_events:
        raise InvalidRequest("events", f"at most {max_events} events a request, got {len(raws)}", status=413)
    return [_decode_event(raw, f"events[{i}]", stream_id) for i, raw in enumerate(raws)]


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise InvalidRequest("If-Match", "If-Match must be the stream version you expect (0 for a new stream)")
    return int(value)


def recording_metadata(request: Request[Any, Any, Any], principal: Principal) -> Metadata:
    """Who records and why: the caller, and the correlation and causation ids of the request, else its id.

    The request's id is its ``X-Request-ID`` (``RequestCycle``), so the events it stored lead back to its log line.
    """
    request_id = request.scope["state"].get("request_id") or uuid.uuid4()

    def header_uuid(name: str) -> uuid.UUID | None:
        raw = request.headers.get(name)
        if raw is None:
            return None
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise InvalidRequest(name, f"{name} must be a UUID") from None

    return Metadata(
        programme_id=principal.programme_id,
        actor_id=principal.user_id,
        correlation_id=header_uuid("X-Correlation-ID") or request_id,
        causation_id=header_uuid("X-Causation-ID") or request_id,
    )


def _out(result: AppendResult) -> AppendOut:
    return AppendOut(
        stream_id=result.stream_id,
        stream_version=result.stream_version,
        global_position=result.global_position,
        event_ids=result.event_ids,
    )


def _event_out(event: RecordedEvent, voided_by: uuid.UUID | None) -> EventOut:
    return EventOut(
        type=event.type,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        data=event.data,
        stream_id=event.stream_id,
        stream_version=event.stream_version,
        global_position=event.global_position,
        recorded_at=event.recorded_at,
        schema_version=event.schema_version,
        metadata=event.metadata,
        voided=voided_by is not None,
        voided_by=voided_by,
    )


# One recording route and one reading route per stream kind, made by the same two functions: what differs is the
# path, the operation's name and who may reach it (a counselor only their own participants).
_STREAM_PATHS: dict[StreamKind, str] = {"participant": "participants", "contact": "contacts", "employer": "employers"}


def _record_route(kind: StreamKind) -> HTTPRouteHandler:
    async def record(
        record_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        recording: NamedDependency[Recording],
        if_match: IfMatch = None,
    ) -> AppendOut:
        principal = request.user
        stream_id = stream_id_of(kind, record_id)
        incoming = _decode_body(await request.body(), stream_id, recording.max_events)
        expected = _expected_version(request.headers.get("if-match"))
        outcome = await recording.recorder.record(
            principal.programme_id,
            incoming,
            recording_metadata(request, principal),
            expected_versions=None if expected is None else {stream_id: expected},
        )
        return _out(outcome.results[0])

    scoped = participant_scoped() if kind == "participant" else {}
    return post(
        f"/v1/{_STREAM_PATHS[kind]}/{{record_id:uuid}}/events",
        opt={**roles(*RECORDERS), **scoped},
        operation_id=f"record{kind.capitalize()}Events",
        responses=RECORD_PROBLEMS,
        operation_class=RECORDING_OPERATIONS[kind],
        summary=f"Record events of one {kind}",
        status_code=201,
        tags=["events"],
        name=f"record_{kind}",
    )(record)


def _read_route(kind: StreamKind) -> HTTPRouteHandler:
    async def read(
        record_id: FromPath[uuid.UUID],
        request: Request[Principal, Any, Any],
        store: NamedDependency[EventStore],
        subject_keys: NamedDependency[SubjectKeys],
    ) -> StreamOut:
        principal = request.user
        stream_id = stream_id_of(kind, record_id)
        async with tenant_connection(store.pool, principal.programme_id) as conn:
            stored = (await store.read_streams(conn, principal.programme_id, [stream_id]))[stream_id]
            opened = await subject_keys.open_events(conn, principal.programme_id, stored)
        events = opened.events
        if not events:
            raise NotFound()
        voided_by = {uuid.UUID(str(e.data["voided_event_id"])): e.event_id for e in events if e.type == "entry_voided"}
        return StreamOut(
            stream_id=stream_id,
            version=events[-1].stream_version,
            events=[_event_out(e, voided_by.get(e.event_id)) for e in events],
            erased=bool(opened.erased),
        )

    scoped = {**audit_participant("record_id"), **participant_scoped()} if kind == "participant" else {}
    article = "An" if kind[0] in "aeiou" else "A"
    return get(
        f"/v1/{_STREAM_PATHS[kind]}/{{record_id:uuid}}/events",
        opt={**roles("admin", "staff", "counselor"), **scoped},
        operation_id=f"read{kind.capitalize()}Events",
        responses=READ_PROBLEMS,
        summary=f"{article} {kind}'s stream, voided events marked",
        tags=["events"],
        name=f"read_{kind}",
    )(read)


STREAM_ROUTES: Final[list[HTTPRouteHandler]] = [
    route for kind in _STREAM_PATHS for route in (_record_route(kind), _read_route(kind))
]
"""``POST`` and ``GET /v1/{participants,contacts,employers}/{id}/events``."""


class EventsController(Controller):
    """``POST /v1/events:batch``."""

    tags = ("events",)

    @post(
        "/v1/events:batch",
        opt=roles(*RECORDERS),
        operation_id="recordBatch",
        responses=RECORD_PROBLEMS,
        operation_class=RECORDING_OPERATIONS["batch"],
        status_code=201,
        summary="Record up to 5,000 events across streams, all or nothing",
    )
    async def record_batch(
        self,
        request: Request[Principal, Any, Any],
        recording: NamedDependency[Recording],
    ) -> BatchOut:
        principal = request.user
        recorder = recording.recorder
        incoming = _decode_body(await request.body(), None, recording.max_events)
        for item in incoming:
            _check_stream_id(item.stream_id, f"{item.field}.stream_id")
        participants = [
            uuid.UUID(item.stream_id.split("-", 1)[1]) for item in incoming if item.stream_id.startswith("participant-")
        ]
        if participants and principal.role == "counselor":
            async with tenant_connection(recorder.pool, principal.programme_id) as conn:
                await check_assigned(conn, principal, participants, allow_new=True)
        outcome = await recorder.record(principal.programme_id, incoming, recording_metadata(request, principal))
        return BatchOut(
            global_position=max(r.global_position for r in outcome.results),
            results=[_out(r) for r in outcome.results],
        )


def _check_stream_id(stream_id: str, field: str) -> None:
    try:
        stream_kind(stream_id)
    except RuleViolation as e:
        raise InvalidRequest(field, e.message) from None
