"""Many writers on one stream, in two API processes: without If-Match every append lands; with it, one per version.

A client that sends no ``If-Match`` asked for no version: losing the race for
the stream's next version is the server's business, retried (with jittered
backoff) until the request's deadline, never a 409. A client that sends one
gets exactly what it asked: one append takes each version, the others 409.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from domain.events import EmployerAdded, EmployerUpdated, Event
from domain.streams import stream_id_of
from infra.db import create_app_pool
from infra.event_store import ConcurrencyConflict, EventStore, Metadata
from infra.settings import Settings
from services.recording import IncomingEvent, Recorder, RecordOutcome, VersionMismatch
from tests.support import Api, Tenant, envelope, subject_keys

WRITERS = 16
EVENTS_EACH = 10
AT = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def _incoming(stream_id: str, event: Event) -> IncomingEvent:
    return IncomingEvent(stream_id=stream_id, event_id=uuid.uuid4(), occurred_at=AT, event=event)


@pytest.fixture
async def two_processes(settings: Settings) -> AsyncIterator[list[Recorder]]:
    """Two recorders as two API processes have them: a pool and a cache of stream states each."""
    pools = [await create_app_pool(settings, min_size=WRITERS // 2, max_size=WRITERS // 2) for _ in range(2)]
    yield [Recorder(EventStore(pool), keys=subject_keys()) for pool in pools]
    for pool in pools:
        await pool.close()


async def _new_employer(recorder: Recorder, tenant: Tenant) -> str:
    stream_id = stream_id_of("employer", uuid.uuid4())
    meta = Metadata(programme_id=tenant.programme_id)
    await recorder.record(tenant.programme_id, [_incoming(stream_id, EmployerAdded(name="Busy Ltd"))], meta)
    return stream_id


async def test_concurrent_appends_without_if_match_on_one_stream_all_land_once_in_order(
    two_processes: list[Recorder], owner: asyncpg.Connection, tenant: Tenant
) -> None:
    stream_id = await _new_employer(two_processes[0], tenant)
    meta = Metadata(programme_id=tenant.programme_id)
    sent: list[uuid.UUID] = []
    slowest = 0.0

    async def writer(number: int) -> None:
        nonlocal slowest
        recorder = two_processes[number % 2]
        for n in range(EVENTS_EACH):
            item = _incoming(stream_id, EmployerUpdated(city=f"City {number}-{n}"))
            sent.append(item.event_id)
            started = time.monotonic()
            await recorder.record(tenant.programme_id, [item], meta)  # a 409 would raise here
            slowest = max(slowest, time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(writer(number) for number in range(WRITERS)))
    elapsed = time.monotonic() - started

    rows = await owner.fetch(
        """SELECT stream_version, event_id FROM events WHERE programme_id = $1 AND stream_id = $2
           ORDER BY stream_version""",
        tenant.programme_id,
        stream_id,
    )
    # No gap, no duplicate: versions 1..n, each sent event stored once.
    assert [row["stream_version"] for row in rows] == list(range(1, 2 + WRITERS * EVENTS_EACH))
    stored = [row["event_id"] for row in rows[1:]]
    assert len(set(stored)) == len(stored) and set(stored) == set(sent)
    print(f"\n{len(sent)} appends in {elapsed:.2f}s; the slowest took {slowest:.2f}s")  # shown with -s


async def test_concurrent_appends_with_if_match_let_exactly_one_take_each_version(
    two_processes: list[Recorder], owner: asyncpg.Connection, tenant: Tenant
) -> None:
    stream_id = await _new_employer(two_processes[0], tenant)
    meta = Metadata(programme_id=tenant.programme_id)
    for version in range(1, 6):
        answers = await asyncio.gather(
            *(
                two_processes[number % 2].record(
                    tenant.programme_id,
                    [_incoming(stream_id, EmployerUpdated(city=f"City {version}-{number}"))],
                    meta,
                    expected_versions={stream_id: version},
                )
                for number in range(8)
            ),
            return_exceptions=True,
        )
        won = [a for a in answers if isinstance(a, RecordOutcome)]
        lost = [a for a in answers if not isinstance(a, RecordOutcome)]
        assert len(won) == 1 and won[0].results[0].stream_version == version + 1, answers
        # Both answer 409 (services/api/problems.py).
        assert all(isinstance(a, VersionMismatch | ConcurrencyConflict) for a in lost), lost
    versions = await owner.fetch(
        "SELECT stream_version FROM events WHERE programme_id = $1 AND stream_id = $2 ORDER BY stream_version",
        tenant.programme_id,
        stream_id,
    )
    assert [row["stream_version"] for row in versions] == list(range(1, 7))


async def _every_append_loses_the_race(owner: asyncpg.Connection) -> None:
    """From now on each append fails as if another writer had just taken the stream's next version."""
    await owner.execute(
        """CREATE FUNCTION lose_the_race() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE unique_violation USING CONSTRAINT = 'events_stream_version_key'; END $$"""
    )
    await owner.execute(
        "CREATE TRIGGER lose_the_race BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION lose_the_race()"
    )


async def test_an_append_without_if_match_that_never_wins_is_503_at_its_deadline_and_with_if_match_409(
    api: Api, owner: asyncpg.Connection
) -> None:
    employer = await api.new_employer()
    await _every_append_loses_the_race(owner)
    body = envelope("employer_updated", {"city": "Leeds"})
    started = time.monotonic()
    busy = await api.record("employer", employer, body)
    waited = time.monotonic() - started
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["title"] == "The stream is busy"
    assert 4.5 < waited < 15, waited  # retried until the request's deadline (5 s), not given up at once
    pinned = await api.record("employer", employer, body, **{"If-Match": "1"})
    assert pinned.status_code == 409, pinned.text  # the version asked for was taken: the client's to judge
