"""Restarting PostgreSQL under load: acknowledged events are stored exactly once, and the API recovers by itself.

Clients append one event a request, each with an ``event_id`` of their own
choosing, and retry the very same body on a connection error or a 5xx until
it is acknowledged (201). Meanwhile the test's private PostgreSQL is
restarted cleanly, then crashed and started again. The API process (uvicorn,
one pool) is never restarted. Afterwards the store holds every acknowledged
event exactly once, where its acknowledgement said, and nothing else; and
the API answers at once after a further crash made while it was idle.

Every few events a client also throws the first answer away, as if the
response had been lost on the way, and sends the request again: the store
must answer the retry from what the first attempt stored. Each attempt sends
its own ``X-Correlation-ID``, which is stored with the event, so the test can
tell which attempt stored each event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.conftest import Served
from tests.support import contact_added, enrolment, envelope, new_id

pytestmark = pytest.mark.slow

CLIENTS = 8
PARTICIPANTS = 4  # two clients a participant: appends also race for stream versions
LOSE_EVERY = 5  # every fifth event of a client has its first answer thrown away
ACKS_PER_PHASE = 40  # progress required before and after each restart
EVENT_DEADLINE_S = 30.0  # an event not acknowledged by then is a failure
PHASE_TIMEOUT_S = 20.0
REQUEST_TIMEOUT_S = 10.0


class Tally:
    """What the clients saw."""

    def __init__(self) -> None:
        self.acknowledged: dict[str, dict[str, Any]] = {}  # event_id -> the 201 body
        self.acknowledging_attempt: dict[str, str] = {}  # event_id -> X-Correlation-ID of the attempt answered 201
        self.attempts: dict[str, list[str]] = {}  # event_id -> X-Correlation-ID of every attempt
        self.thrown_away: dict[str, dict[str, Any]] = {}  # event_id -> a 201 body the client "did not receive"
        self.failures: Counter[str] = Counter()  # "HTTP 500", "ConnectError", ...
        self.unexpected: list[str] = []
        self.unacknowledged: list[str] = []


async def _append_until_acknowledged(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    participant: str,
    body: dict[str, Any],
    tally: Tally,
    *,
    lose_first_answer: bool,
) -> bool:
    """POST ``body`` until it is acknowledged; the same body (same event_id) every time."""
    event_id = body["event_id"]
    attempts = tally.attempts.setdefault(event_id, [])
    deadline = time.monotonic() + EVENT_DEADLINE_S
    backoff = 0.02
    while time.monotonic() < deadline:
        request_id = new_id()
        attempts.append(request_id)
        try:
            response = await http.post(
                f"/v1/participants/{participant}/events", json=body, headers={**headers, "X-Correlation-ID": request_id}
            )
        except httpx.TransportError as e:
            tally.failures[type(e).__name__] += 1
        else:
            if response.status_code == 201 and lose_first_answer and len(attempts) == 1:
                tally.thrown_away[event_id] = response.json()
                continue  # "the answer was lost": send the same request again at once
            if response.status_code == 201:
                tally.acknowledged[event_id] = response.json()
                tally.acknowledging_attempt[event_id] = request_id
                return True
            if response.status_code < 500:
                tally.unexpected.append(f"{event_id}: {response.status_code} {response.text}")
                return False
            tally.failures[f"HTTP {response.status_code}"] += 1
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 0.4)
    tally.unacknowledged.append(event_id)
    return False


async def _client(
    http: httpx.AsyncClient, headers: dict[str, str], participant: str, contact: str, stop: asyncio.Event, tally: Tally
) -> None:
    sent = 0
    while not stop.is_set():
        sent += 1
        body = envelope(
            "outreach_sent",
            {"outreach_id": new_id(), "contact_id": contact, "channel": "email", "purpose": "introduction"},
            event_id=new_id(),
        )
        if not await _append_until_acknowledged(
            http, headers, participant, body, tally, lose_first_answer=sent % LOSE_EVERY == 0
        ):
            return


async def _progress(tally: Tally, more: int, what: str, served: Served) -> None:
    """Wait until ``more`` further events are acknowledged (or a client gave up)."""
    target = len(tally.acknowledged) + more
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while len(tally.acknowledged) < target:
        if tally.unexpected or tally.unacknowledged:
            return
        assert time.monotonic() < deadline, (
            f"no progress {what}: {len(tally.acknowledged)} acknowledged, failures {dict(tally.failures)}\n"
            f"{served.cluster.log_tail()}"
        )
        await asyncio.sleep(0.02)


async def test_restarting_postgres_loses_and_duplicates_no_acknowledged_event(served_api: Served) -> None:
    served = served_api
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=served.base_url, timeout=REQUEST_TIMEOUT_S) as http:
        login = await http.post(
            "/v1/auth/login", json={"email": served.tenant.admin_email, "password": served.tenant.password}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        contact = new_id()
        response = await http.post(f"/v1/contacts/{contact}/events", json=contact_added(), headers=headers)
        assert response.status_code == 201, response.text
        participants = [new_id() for _ in range(PARTICIPANTS)]
        for participant in participants:
            response = await http.post(
                f"/v1/participants/{participant}/events", json=enrolment(served.tenant.counselor_id), headers=headers
            )
            assert response.status_code == 201, response.text

        tally = Tally()
        stop = asyncio.Event()
        clients = [
            asyncio.create_task(_client(http, headers, participants[i % PARTICIPANTS], contact, stop, tally))
            for i in range(CLIENTS)
        ]
        try:
            await _progress(tally, ACKS_PER_PHASE, "before the restarts", served)
            failures_before = sum(tally.failures.values())
            await served.cluster.restart_fast()
            await _progress(tally, ACKS_PER_PHASE, "after a fast restart", served)
            failures_after_fast = sum(tally.failures.values())
            await served.cluster.crash()
            await asyncio.sleep(0.5)  # down for a while: the clients keep knocking
            await served.cluster.start()
            await _progress(tally, ACKS_PER_PHASE, "after a crash and start", served)
        finally:
            stop.set()
            await asyncio.gather(*clients)

        assert not tally.unexpected, tally.unexpected[:5]
        assert not tally.unacknowledged, (
            f"{len(tally.unacknowledged)} events never acknowledged within {EVENT_DEADLINE_S}s; "
            f"failures {dict(tally.failures)}\n{served.cluster.log_tail()}"
        )
        # With retries until acknowledged, every event a client attempted ends acknowledged.
        assert set(tally.attempts) == set(tally.acknowledged)
        # Both restarts were felt: requests failed in each, and were retried.
        assert failures_after_fast > failures_before, dict(tally.failures)
        assert sum(tally.failures.values()) > failures_after_fast, dict(tally.failures)
        # The API process stayed up throughout: every failure was an answer, never a dropped connection, and
        # each said "the database is unavailable, send it again" (503), never "internal error" (500).
        assert all(kind == "HTTP 503" for kind in tally.failures), dict(tally.failures)
        # A retry after a lost answer is answered as the first time.
        assert tally.thrown_away, "no answer was thrown away"
        for event_id, first in tally.thrown_away.items():
            assert tally.acknowledged[event_id] == first

        conn = await asyncpg.connect(served.database_url)
        try:
            rows = await conn.fetch(
                """SELECT event_id::text AS event_id, stream_id, stream_version, global_position,
                          metadata->>'correlation_id' AS request_id
                   FROM events WHERE programme_id = $1 AND type = 'outreach_sent'""",
                served.tenant.programme_id,
            )
            streams = await conn.fetch(
                """SELECT stream_id, count(*) AS n, max(stream_version) AS top FROM events
                   WHERE programme_id = $1 GROUP BY stream_id""",
                served.tenant.programme_id,
            )
        finally:
            await conn.close()

        # Every acknowledged event is stored exactly once, where its acknowledgement said; nothing else is stored.
        stored = Counter(row["event_id"] for row in rows)
        assert [e for e, n in stored.items() if n > 1] == [], "an event is stored twice"
        assert set(stored) == set(tally.acknowledged), (
            f"acknowledged but not stored: {len(set(tally.acknowledged) - set(stored))}, "
            f"stored but not acknowledged: {len(set(stored) - set(tally.acknowledged))}"
        )
        assert len(rows) == len(tally.acknowledged)
        replayed = 0
        for row in rows:
            event_id = row["event_id"]
            ack = tally.acknowledged[event_id]
            assert ack["stream_id"] == row["stream_id"]
            assert ack["event_ids"] == [event_id]
            assert (ack["stream_version"], ack["global_position"]) == (row["stream_version"], row["global_position"])
            assert row["request_id"] in tally.attempts[event_id]  # stored by one of its own attempts
            replayed += row["request_id"] != tally.acknowledging_attempt[event_id]
        # Each thrown-away answer was stored by the first attempt, so its acknowledgement was a replay.
        assert replayed >= len(tally.thrown_away)
        # Stream versions have no gaps: the n events of a stream are its versions 1..n.
        assert all(s["n"] == s["top"] for s in streams), [dict(s) for s in streams]

        # Crashed again while idle: the very first requests are answered, with no retry, although the pool
        # held only dead connections. Twice the pool's size at once, so that no pooled connection is spared.
        await served.cluster.crash()
        await served.cluster.start()
        reads = await asyncio.gather(
            *(
                http.get(f"/v1/participants/{participants[i % PARTICIPANTS]}/events", headers=headers)
                for i in range(2 * served.settings.pool_max_size)
            )
        )
        assert [r.status_code for r in reads] == [200] * len(reads), [r.text for r in reads if r.status_code != 200]
        assert sum(len(r.json()["events"]) for r in reads[:PARTICIPANTS]) == PARTICIPANTS + len(tally.acknowledged)
        fresh = await http.post(f"/v1/contacts/{uuid.uuid4()}/events", json=contact_added("After"), headers=headers)
        assert fresh.status_code == 201, fresh.text

    print(  # shown with -s
        f"\n{len(tally.acknowledged)} events acknowledged; {len(tally.thrown_away)} answers thrown away; "
        f"{replayed} acknowledgements were replays; failures {dict(tally.failures)}; "
        f"{time.monotonic() - started:.1f}s"
    )
