"""The follow-up list: today's items with the next step and why, and a quick form that records what happened.

The form records through ``Recorder.record``, as ``POST /v1/participants/{id}/events``
does, with an event id the browser made: sent twice (a double tap, a retry after
a lost answer, the offline queue sending again) it stores one event. Every id the
event carries is derived from that event id, and the moment from the form's own
day and time, so that the second sending is the same event, not a conflict.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from domain.events import CHANNELS, PURPOSES, decode_data
from domain.reporting.follow_ups import FollowUpItem
from domain.streams import StreamKind, stream_id_of
from infra.crypto import SubjectKeys
from infra.db import TenantConnection
from infra.event_store import EventStore
from services.api.events_routes import recording_metadata
from services.api.limits import report_quota
from services.api.pages.site import PAGES, STATIC, page, wants_json
from services.api.participant_routes import build_caseload, build_follow_ups
from services.api.problems import InvalidRequest, field_of_validation_error
from services.api.reading_routes import ReportQuery, build_response_rates, programme_settings, today_in
from services.api.record_names import RecordName, directory, record_names
from services.api.scope import check_assigned
from services.api.security import Principal, public, roles
from services.recording import IncomingEvent, Recorder

RECORDERS: Final = ("admin", "staff", "counselor")
OUTCOMES: Final = ("positive", "neutral", "declined")
MEETING_FORMATS: Final = ("in_person", "phone", "video")
MEETING_KINDS: Final = ("coffee", "informational_interview", "networking_event", "job_fair", "mentoring", "other")
RATE_WEEKS: Final = 12
"""How many weeks of the caller's own response rates the list shows under the items."""

NEXT_STEP: Final[dict[str, str]] = {
    "follow_up": "Follow up",
    "exhausted": "Stop chasing",
    "thank_you_after_rejection": "Send a thank-you",
    "notify_helpers_of_hire": "Share the news of the hire",
    "nurture": "Get back in touch",
    "retention_check_due": "Verify employment",
}
# What the quick form is prefilled with for an item of each kind (the outreach the step asks for).
PURPOSE_OF: Final[dict[str, str]] = {
    "follow_up": "follow_up",
    "thank_you_after_rejection": "thank_you",
    "notify_helpers_of_hire": "notify_hired",
    "nurture": "progress_update",
}


class EntryIn(msgspec.Struct, frozen=True, kw_only=True):
    """One quick-form entry, as the form posts it or the offline queue sends it (JSON of the same fields)."""

    event_id: uuid.UUID
    participant_id: uuid.UUID
    what: Literal["outreach", "response", "meeting"]
    on: dt.date
    at: Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    contact_id: uuid.UUID | None = None
    channel: str | None = None
    purpose: str | None = None
    follow_up_of: uuid.UUID | None = None
    outreach_id: uuid.UUID | None = None
    outcome: str | None = None
    format: str | None = None
    meeting_kind: str | None = None


class EntryOut(msgspec.Struct, frozen=True, kw_only=True):
    """What the quick form's entry stored (or had stored the first time it was sent)."""

    event_id: uuid.UUID
    stored: bool
    replayed: bool
    global_position: int


def derived_id(event_id: uuid.UUID, what: str) -> uuid.UUID:
    """The id of the outreach or meeting an entry creates: the same for every sending of the entry."""
    return uuid.uuid5(event_id, what)


def entry_event(entry: EntryIn, zone: dt.tzinfo) -> IncomingEvent:
    """The event an entry records, checked against the event catalogue (a missing field answers 422 naming it)."""
    hour, minute = (int(part) for part in entry.at.split(":"))
    occurred_at = dt.datetime.combine(entry.on, dt.time(hour, minute), tzinfo=zone)
    data: dict[str, Any]
    match entry.what:
        case "outreach":
            event_type = "outreach_sent"
            data = {
                "outreach_id": str(derived_id(entry.event_id, "outreach")),
                "contact_id": entry.contact_id,
                "channel": entry.channel,
                "purpose": entry.purpose,
            }
            if entry.follow_up_of is not None:
                data["follow_up_of"] = entry.follow_up_of
        case "response":
            event_type = "response_received"
            data = {"outreach_id": entry.outreach_id, "outcome": entry.outcome}
        case "meeting":
            event_type = "meeting_held"
            data = {
                "meeting_id": str(derived_id(entry.event_id, "meeting")),
                "contact_id": entry.contact_id,
                "format": entry.format,
                "kind": entry.meeting_kind,
            }
    present: dict[str, object] = {k: str(v) for k, v in data.items() if v is not None}
    try:
        event = decode_data(event_type, present)
    except msgspec.ValidationError as e:
        error = field_of_validation_error(e)
        field = {"kind": "meeting_kind"}.get(error.field, error.field)
        raise InvalidRequest(field, error.message) from None
    return IncomingEvent(
        stream_id=stream_id_of("participant", entry.participant_id),
        event_id=entry.event_id,
        occurred_at=occurred_at,
        event=event,
    )


async def _entry_of(request: Request[Principal, Any, Any]) -> EntryIn:
    """The entry from a form post or from the queue's JSON: one shape, empty choices meaning none."""
    if request.content_type[0] == "application/json":
        raw: dict[str, Any] = msgspec.json.decode(await request.body(), type=dict[str, Any])
    else:
        raw = dict((await request.form()).items())
    fields = {k: v for k, v in raw.items() if k != "_csrf_token" and v not in ("", None)}
    try:
        return msgspec.convert(fields, EntryIn, strict=False)
    except msgspec.ValidationError as e:
        error = field_of_validation_error(e)
        raise InvalidRequest(error.field, error.message) from None


def _item_view(item: FollowUpItem, names: dict[uuid.UUID, RecordName]) -> dict[str, Any]:
    """An item as the list shows it: names for ids, the next step, and the quick form's prefill."""

    def name(record_id: uuid.UUID | None) -> str | None:
        return None if record_id is None else (names[record_id].name if record_id in names else "(unknown)")

    step = NEXT_STEP[item.kind]
    if item.kind == "follow_up" and item.suggested_channel:
        step = f"Follow up by {item.suggested_channel.replace('_', ' ')}"
    if item.kind == "retention_check_due" and item.milestone_days:
        step = f"Verify the {item.milestone_days}-day milestone"
    prefill: dict[str, str] = {}
    if item.kind in PURPOSE_OF:
        prefill = {"what": "outreach", "participant_id": str(item.participant_id), "purpose": PURPOSE_OF[item.kind]}
        if item.contact_id is not None:
            prefill["contact_id"] = str(item.contact_id)
        if item.suggested_channel is not None:
            prefill["channel"] = item.suggested_channel
        if item.kind == "follow_up" and item.outreach_id is not None:
            prefill["follow_up_of"] = str(item.outreach_id)
    answer: dict[str, str] = {}
    if item.kind in ("follow_up", "exhausted") and item.outreach_id is not None:
        answer = {"what": "response", "participant_id": str(item.participant_id), "outreach_id": str(item.outreach_id)}
    return {
        "item": item,
        "participant": name(item.participant_id),
        "contact": name(item.contact_id),
        "employer": name(item.employer_id),
        "step": step,
        "prefill": prefill,
        "answer": answer,
    }


def _open_outreach(views: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The unanswered outreaches the items name: what a response can be logged against."""
    seen: dict[str, dict[str, str]] = {}
    for view in views:
        item: FollowUpItem = view["item"]
        if item.kind in ("follow_up", "exhausted") and item.outreach_id is not None:
            seen[str(item.outreach_id)] = {
                "id": str(item.outreach_id),
                "participant_id": str(item.participant_id),
                "label": f"{view['participant']} → {view['contact'] or 'a contact'} (due {item.due_on.isoformat()})",
            }
    return list(seen.values())


class FollowUpsController(Controller):
    """``/app/follow-ups``, its quick form's ``/app/follow-ups/entries``, and the offline pieces."""

    include_in_schema = False

    @get("/follow-ups", opt={**roles(*RECORDERS), **report_quota()})
    async def follow_ups(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        store: NamedDependency[EventStore],
        subject_keys: NamedDependency[SubjectKeys],
        logged: Annotated[uuid.UUID | None, QueryParameter()] = None,
    ) -> Template:
        principal = request.user
        programme = await programme_settings(db, principal.programme_id)
        now = dt.datetime.now(programme.time_zone)
        queue = await build_follow_ups(db, principal, as_of=None, counselor_id=None)
        own = principal.user_id if principal.role == "counselor" else None
        caseload = await build_caseload(db, principal, counselor_id=own)
        wanted: set[tuple[StreamKind, uuid.UUID]] = {("participant", p) for p in caseload}
        for item in queue.items:
            wanted.add(("participant", item.participant_id))
            if item.contact_id is not None:
                wanted.add(("contact", item.contact_id))
            if item.employer_id is not None:
                wanted.add(("employer", item.employer_id))
        names = await record_names(db, store, subject_keys, principal.programme_id, wanted)
        views = [_item_view(item, names) for item in queue.items]
        participants = sorted(
            (names[p] for p in {*caseload, *(i.participant_id for i in queue.items)} if p in names),
            key=lambda n: n.name.lower(),
        )
        today = today_in(programme.time_zone)
        first_monday = today - dt.timedelta(days=today.weekday() + 7 * (RATE_WEEKS - 1))
        asked = ReportQuery(
            from_date=first_monday, to_date=today, as_of=today, counselor_id=own, as_of_position=queue.global_position
        )
        rates = await build_response_rates(db, principal, asked, "week")
        prefill = {k: v for k, v in request.query_params.items() if k in EntryIn.__struct_fields__}
        return page(
            request,
            "follow_ups.html",
            title="Follow-ups",
            as_of=queue.as_of,
            views=views,
            participants=participants,
            contacts=await directory(db, store, subject_keys, principal.programme_id, "contact"),
            open_outreach=_open_outreach(views),
            channels=CHANNELS,
            purposes=PURPOSES,
            outcomes=OUTCOMES,
            meeting_formats=MEETING_FORMATS,
            meeting_kinds=MEETING_KINDS,
            event_id=uuid.uuid4(),
            today=now.date(),
            time=now.strftime("%H:%M"),
            prefill=prefill,
            logged=logged,
            rates=msgspec.to_builtins(rates),
            own=own is not None,
        )

    @post("/follow-ups/entries", opt=roles(*RECORDERS), status_code=201)
    async def record_entry(
        self,
        request: Request[Principal, Any, Any],
        db: NamedDependency[TenantConnection],
        recorder: NamedDependency[Recorder],
    ) -> Response[Any]:
        principal = request.user
        entry = await _entry_of(request)
        await check_assigned(db, principal, [entry.participant_id])
        programme = await programme_settings(db, principal.programme_id)
        incoming = entry_event(entry, programme.time_zone)
        outcome = await recorder.record(principal.programme_id, [incoming], recording_metadata(request, principal))
        stored = EntryOut(
            event_id=entry.event_id,
            stored=True,
            replayed=outcome.replayed,
            global_position=outcome.results[0].global_position,
        )
        if wants_json(request):
            return Response(stored, status_code=200 if outcome.replayed else 201)
        return Redirect(f"{PAGES}/follow-ups?logged={entry.event_id}#log", status_code=303)

    # The service worker fetches these two by itself (installing, checking for an update on a navigation), with
    # whatever cookies the browser holds. Through the CSRF middleware, one fetched while the login page loads,
    # before its cookie was kept, set a CSRF cookie of its own over the page's: the form's token no longer
    # matched, and the login was refused (403). They hold no data and no form: no CSRF cookie for them.
    @get("/offline", opt={**public(), "exclude_from_csrf": True})
    async def offline(self, request: Request[Any, Any, Any]) -> Template:
        # The same for everyone and holding no data: the service worker keeps it for when the network is gone.
        return Template(template_name="offline.html", context={"title": "Offline"})

    @get("/sw.js", opt={**public(), "exclude_from_csrf": True}, media_type="text/javascript", sync_to_thread=False)
    def service_worker(self) -> Response[bytes]:
        # Served from /app, not /app/static, so that its scope covers every page.
        return Response((STATIC / "sw.js").read_bytes(), media_type="text/javascript")
