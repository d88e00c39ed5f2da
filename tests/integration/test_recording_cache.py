"""Two API processes, each with its own cache of stream states, recording into the same streams."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from domain.events import ContactAdded, OutreachSent, ParticipantEnrolled, Profile, ResponseReceived
from infra.event_store import ConcurrencyConflict, EventStore, Metadata
from services.recording import IncomingEvent, Recorder, VersionMismatch
from tests.support import Tenant, subject_keys

AT = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def _incoming(stream_id: str, event: object) -> IncomingEvent:
    return IncomingEvent(stream_id=stream_id, event_id=uuid.uuid4(), occurred_at=AT, event=event)  # type: ignore[arg-type]


async def test_a_process_with_a_stale_cache_neither_refuses_nor_accepts_wrongly(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    first, second = Recorder(EventStore(pool), keys=subject_keys()), Recorder(EventStore(pool), keys=subject_keys())
    meta = Metadata(programme_id=tenant.programme_id)
    contact_id, participant_id, outreach_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    contact, participant = f"contact-{contact_id}", f"participant-{participant_id}"
    await first.record(tenant.programme_id, [_incoming(contact, ContactAdded(name="Dana"))], meta)
    enrolled = ParticipantEnrolled(
        enrolled_on=AT.date(), counselor_id=tenant.counselor_id, profile=Profile(display_name="Sam")
    )
    await second.record(tenant.programme_id, [_incoming(participant, enrolled)], meta)  # second caches version 1
    sent = OutreachSent(outreach_id=outreach_id, contact_id=contact_id, channel="email", purpose="introduction")
    await first.record(tenant.programme_id, [_incoming(participant, sent)], meta)  # the stream moves on elsewhere

    # The second process's cache does not know the outreach: it must look again, not refuse.
    answered = ResponseReceived(outreach_id=outreach_id, outcome="positive")
    outcome = await second.record(tenant.programme_id, [_incoming(participant, answered)], meta)
    assert outcome.results[0].stream_version == 3

    # And a version pinned by the client is judged against the store, not the cache.
    again = ResponseReceived(outreach_id=outreach_id, outcome="neutral")
    with pytest.raises((VersionMismatch, ConcurrencyConflict)):  # both answer 409
        await first.record(
            tenant.programme_id, [_incoming(participant, again)], meta, expected_versions={participant: 2}
        )
    done = await first.record(
        tenant.programme_id, [_incoming(participant, again)], meta, expected_versions={participant: 3}
    )
    assert done.results[0].stream_version == 4
