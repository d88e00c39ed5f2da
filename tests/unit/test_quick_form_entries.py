"""The follow-up list's quick form: an entry makes the same event however often it is sent."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import msgspec
import pytest

from domain.events import MeetingHeld, OutreachSent
from services.api.pages.follow_ups import EntryIn, entry_event
from services.api.problems import InvalidRequest

ZONE = zoneinfo.ZoneInfo("America/Chicago")


def entry(**fields: object) -> EntryIn:
    base: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "participant_id": str(uuid.uuid4()),
        "what": "outreach",
        "on": "2026-11-30",
        "at": "09:15",
        "contact_id": str(uuid.uuid4()),
        "channel": "phone",
        "purpose": "follow_up",
    }
    return msgspec.convert(base | fields, EntryIn, strict=False)


def test_an_entry_sent_twice_makes_the_same_event_ids_and_moment() -> None:
    sent = entry()
    first, second = entry_event(sent, ZONE), entry_event(sent, ZONE)
    assert first == second
    assert isinstance(first.event, OutreachSent)
    assert first.event_id == sent.event_id
    assert first.occurred_at == dt.datetime(2026, 11, 30, 9, 15, tzinfo=ZONE)
    assert first.stream_id == f"participant-{sent.participant_id}"


def test_two_entries_make_two_outreaches() -> None:
    one, other = entry_event(entry(), ZONE), entry_event(entry(), ZONE)
    assert isinstance(one.event, OutreachSent) and isinstance(other.event, OutreachSent)
    assert one.event.outreach_id != other.event.outreach_id


def test_a_meeting_takes_its_kind_from_the_form() -> None:
    made = entry_event(entry(what="meeting", format="video", meeting_kind="mentoring"), ZONE)
    assert isinstance(made.event, MeetingHeld)
    assert (made.event.format, made.event.kind) == ("video", "mentoring")


def test_a_missing_choice_is_named() -> None:
    with pytest.raises(InvalidRequest) as refused:
        entry_event(entry(what="meeting", format="video"), ZONE)
    assert refused.value.field == "meeting_kind"
    with pytest.raises(InvalidRequest) as refused:
        entry_event(entry(what="response", outcome="positive"), ZONE)
    assert refused.value.field == "outreach_id"
