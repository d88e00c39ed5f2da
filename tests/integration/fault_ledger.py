"""Clients that append under faults and write down every request, and the audit of the store against what they heard.

Jepsen's vocabulary. Each request's outcome is one of:

- acknowledged (2xx): its events must be stored, each exactly once, where the answer said;
- failed (4xx, a definite failure): none of its events may be stored;
- indeterminate (a timeout, a reset or refused connection, a 5xx): its events may be stored, at most once and all
  of a request or none; sent again with the same event ids once the fault is over, the request must be
  acknowledged and then its events are stored exactly once.

A client only ever sends events of its own choosing (every ``event_id`` set by the client), so the store can be
compared with the ledger event by event. Its requests do not depend on each other's outcome: each names only
streams made before the load or in the same request, so an indeterminate request never turns a later one into a
failure. Some requests are made to be refused (a batch breaking a rule, a stale ``If-Match``), so that definite
failures are there to check as well.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.support import contact_added, enrolment, envelope, new_id, personal_pattern

OCCURRED = "2026-03-02T10:00:00Z"
ANSWERED = "2026-03-03T10:00:00Z"
INDETERMINATE_PAUSE_S = 0.5  # a client's pause after a request it could not settle, so that an outage is no busy loop
PARTICIPANT_NAMES = personal_pattern(r"Person [0-9a-f]{8}")  # each participant's: "Person " and its id's first 8


class Outcome(enum.StrEnum):
    """What a client can tell of one request from what it heard."""

    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    INDETERMINATE = "indeterminate"


@dataclass
class Append:
    """One request as a client sent it; a retry sends the same path, body and headers again."""

    client: int
    path: str
    body: dict[str, Any]
    event_ids: list[str]
    valid: bool  # False: made to be refused (a broken rule, a stale If-Match)
    headers: dict[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None
    heard: str = ""  # "201", "HTTP 503", "ReadTimeout", ...
    answer: dict[str, Any] | None = None
    sent_at: float = 0.0
    answered_at: float = 0.0
    heard_before_retry: str = ""
    landed_before_retry: bool = False


@dataclass
class Ledger:
    """Every request of one load phase and what was heard of it."""

    appends: list[Append] = field(default_factory=list)
    # Set whenever a request of at least ``large`` events is sent: a fault can wait for one to be under way.
    large: int = 0
    large_sent: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, outcome: Outcome) -> list[Append]:
        return [a for a in self.appends if a.outcome == outcome]

    def events(self, outcome: Outcome) -> int:
        return sum(len(a.event_ids) for a in self.of(outcome))


class Workload:
    """One client's requests: a few participants and contacts of its own, made before the load, and new ones."""

    def __init__(self, client: int, counselor_id: str, rng: random.Random) -> None:
        self.client = client
        self.counselor_id = counselor_id
        self.rng = rng
        self.participants = [new_id(), new_id()]
        self.contacts = [new_id(), new_id()]
        self.batch_size = (2, 16)
        self.sent = 0

    def setup(self) -> Append:
        """The client's own participants and contacts, in one batch recorded before any fault."""
        events = [
            {"stream_id": f"contact-{c}", **contact_added(f"Contact {c[:8]}"), "event_id": new_id()}
            for c in self.contacts
        ] + [self._enrolment(p) for p in self.participants]
        return self._batch(events, valid=True)

    def next(self) -> Append:
        """Every tenth request is made to be refused; of the others, half are batches and half single events."""
        n, self.sent = self.sent, self.sent + 1
        if n % 10 == 9:
            return self._refused_batch() if n % 20 == 9 else self._stale_if_match()
        if n % 2 == 0:
            return self._new_participant_batch()
        participant, contact = self.participants[n % 4 // 2], self.contacts[n % 4 // 2]
        body = self.outreach(contact)
        return Append(self.client, f"/v1/participants/{participant}/events", body, [body["event_id"]], valid=True)

    def _enrolment(self, participant: str) -> dict[str, Any]:
        return {
            "stream_id": f"participant-{participant}",
            **enrolment(self.counselor_id, profile={"display_name": f"Person {participant[:8]}"}),
            "event_id": new_id(),
        }

    def outreach(self, contact: str, outreach_id: str | None = None) -> dict[str, Any]:
        """An outreach_sent to ``contact``, as the body of a single event."""
        data = {
            "outreach_id": outreach_id or new_id(),
            "contact_id": contact,
            "channel": self.rng.choice(["email", "phone", "text"]),
            "purpose": "introduction",
        }
        return envelope("outreach_sent", data, occurred_at=OCCURRED, event_id=new_id())

    def _new_participant_batch(self) -> Append:
        """A new participant enrolled, with outreach to the client's contacts and some answers, all or nothing."""
        participant = new_id()
        stream = f"participant-{participant}"
        events = [self._enrolment(participant)]
        size = self.rng.randint(*self.batch_size)
        while len(events) < size:
            outreach_id = new_id()
            events.append({"stream_id": stream, **self.outreach(self.rng.choice(self.contacts), outreach_id)})
            if self.rng.random() < 0.5:
                answer = {"outreach_id": outreach_id, "outcome": self.rng.choice(["positive", "neutral", "declined"])}
                events.append(
                    {
                        "stream_id": stream,
                        **envelope("response_received", answer, occurred_at=ANSWERED, event_id=new_id()),
                    }
                )
        return self._batch(events, valid=True)

    def _refused_batch(self) -> Append:
        """A batch whose last event breaks a rule (a contact opened twice): 422, and nothing of it stored."""
        participant = new_id()
        again = {"stream_id": f"contact-{self.contacts[0]}", **contact_added("Opened twice"), "event_id": new_id()}
        return self._batch([self._enrolment(participant), again], valid=False)

    def _stale_if_match(self) -> Append:
        """An outreach that expects the client's participant to be a new stream, which it is not: 409."""
        body = self.outreach(self.contacts[0])
        return Append(
            self.client,
            f"/v1/participants/{self.participants[0]}/events",
            body,
            [body["event_id"]],
            valid=False,
            headers={"If-Match": "0"},
        )

    def _batch(self, events: list[dict[str, Any]], *, valid: bool) -> Append:
        return Append(self.client, "/v1/events:batch", {"events": events}, [e["event_id"] for e in events], valid=valid)


async def send(http: httpx.AsyncClient, append: Append, ledger: Ledger) -> Outcome:
    """POST ``append`` once and write down what was heard."""
    append.sent_at = time.monotonic()
    if ledger.large and len(append.event_ids) >= ledger.large:
        ledger.large_sent.set()
    try:
        response = await http.post(append.path, json=append.body, headers=append.headers)
    except httpx.TransportError as e:  # timeouts, resets, refused connections: nothing is known
        append.outcome, append.heard = Outcome.INDETERMINATE, type(e).__name__
    else:
        append.heard = str(response.status_code) if response.status_code < 500 else f"HTTP {response.status_code}"
        if response.is_success:
            append.outcome, append.answer = Outcome.ACKNOWLEDGED, response.json()
        elif response.status_code < 500:
            append.outcome = Outcome.FAILED
        else:
            append.outcome = Outcome.INDETERMINATE
    append.answered_at = time.monotonic()
    return append.outcome


async def client(
    http: httpx.AsyncClient, workload: Workload, ledger: Ledger, stop: asyncio.Event, pace_s: float
) -> None:
    """Send the workload's requests one after another until ``stop`` (bounded by whoever sets it)."""
    while not stop.is_set():
        append = workload.next()
        ledger.appends.append(append)
        if await send(http, append, ledger) == Outcome.INDETERMINATE:
            await asyncio.sleep(INDETERMINATE_PAUSE_S)
        else:
            await asyncio.sleep(workload.rng.uniform(0, pace_s))


async def retry_indeterminate(http: httpx.AsyncClient, ledger: Ledger, within_s: float = 60.0) -> None:
    """Send every indeterminate request again, same event ids, until it is answered 2xx or 4xx."""
    deadline = time.monotonic() + within_s
    gate = asyncio.Semaphore(8)

    async def again(append: Append) -> None:
        append.heard_before_retry = append.heard
        async with gate:
            pause = 0.05
            while await send(http, append, ledger) == Outcome.INDETERMINATE and time.monotonic() < deadline:
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)

    await asyncio.gather(*(again(a) for a in ledger.of(Outcome.INDETERMINATE)))


@dataclass
class Audit:
    """The store read as its owner, against a ledger."""

    lost: list[str] = field(default_factory=list)  # acknowledged, not stored
    duplicated: list[str] = field(default_factory=list)  # stored more than once
    present_after_failure: list[str] = field(default_factory=list)  # definite failure, stored all the same
    misplaced: list[str] = field(default_factory=list)  # stored elsewhere than the acknowledgement said
    partial: list[str] = field(default_factory=list)  # a request of which some events are stored and some not


async def stored_counts(conn: asyncpg.Connection, programme_id: Any) -> Counter[str]:
    """How many times each event id is stored in the programme."""
    rows = await conn.fetch(
        "SELECT event_id::text AS id, count(*) AS n FROM events WHERE programme_id = $1 GROUP BY event_id",
        programme_id,
    )
    return Counter({row["id"]: int(row["n"]) for row in rows})


async def audit(conn: asyncpg.Connection, programme_id: Any, ledger: Ledger) -> Audit:
    """Each request of ``ledger`` against the store, as the outcome it has now requires."""
    stored = await stored_counts(conn, programme_id)
    placed = {
        row["id"]: (row["stream_id"], row["stream_version"], row["global_position"])
        for row in await conn.fetch(
            """SELECT event_id::text AS id, stream_id, stream_version, global_position FROM events
               WHERE programme_id = $1""",
            programme_id,
        )
    }
    found = Audit()
    for append in ledger.appends:
        found.duplicated += [e for e in append.event_ids if stored[e] > 1]
        present = [e for e in append.event_ids if stored[e] > 0]
        if present and len(present) < len(append.event_ids):
            found.partial.append(append.event_ids[0])
        if append.outcome == Outcome.FAILED:
            found.present_after_failure += present
        elif append.outcome == Outcome.ACKNOWLEDGED:
            found.lost += [e for e in append.event_ids if stored[e] == 0]
            found.misplaced += _misplaced(append, placed)
    return found


def _misplaced(append: Append, placed: dict[str, tuple[str, int, int]]) -> list[str]:
    """Event ids whose stream, last version or last position differ from what the acknowledgement said."""
    assert append.answer is not None
    results = append.answer.get("results", [append.answer])
    wrong = []
    for result in results:
        rows = [placed[str(e)] for e in result["event_ids"] if str(e) in placed]
        if not rows:
            continue  # counted as lost
        if (
            {stream for stream, _, _ in rows} != {result["stream_id"]}
            or max(version for _, version, _ in rows) != result["stream_version"]
            or max(position for _, _, position in rows) != result["global_position"]
        ):
            wrong += [str(e) for e in result["event_ids"]]
    return wrong


async def gaps_in_streams(conn: asyncpg.Connection, programme_id: Any) -> list[str]:
    """Streams of the programme whose versions are not exactly 1..n."""
    rows = await conn.fetch(
        """SELECT stream_id FROM events WHERE programme_id = $1 GROUP BY stream_id
           HAVING count(*) <> max(stream_version) OR count(DISTINCT stream_version) <> count(*)
               OR min(stream_version) <> 1""",
        programme_id,
    )
    return [row["stream_id"] for row in rows]
