"""Builders for test events and a thin client that speaks the API's JSON."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.events import decode_data
from infra.crypto import SubjectKeys
from infra.event_store import EventStore
from projections.registry import PROJECTIONS
from projections.runner import catch_up
from services.recording import IncomingEvent

# The master key of this test run (the settings fixture's PEOPLELINKS_MASTER_KEY).
MASTER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()

PERSONAL_VALUES: set[str] = set()
"""Names, e-mail addresses and phone numbers tests record, which no log line of the run may hold (tests/log_watch.py).

Filled by ``personal`` as test modules are imported or tests run; the demo's names and the import example's are
taken from their own modules by the log watch.
"""

PERSONAL_PATTERNS: set[str] = set()
"""Regular expressions for personal values a test makes up as it runs (``Person 1a2b3c4d``), searched for likewise."""


def personal(value: str) -> str:
    """``value``, noted in ``PERSONAL_VALUES``: a person's full name, e-mail address or phone number a test records.

    Only values distinctive enough to search every log line for: a bare first name ("Ann") is inside other words
    ("Announce"), so it would be found where no person is.
    """
    if len(value) < 7:
        raise ValueError(f"{value!r} is too short to search the logs for without finding it where no person is")
    PERSONAL_VALUES.add(value)
    return value


def personal_pattern(pattern: str) -> str:
    """``pattern``, a regular expression noted in ``PERSONAL_PATTERNS``: personal values a test makes up as it runs."""
    PERSONAL_PATTERNS.add(pattern)
    return pattern


# Who the builders below record unless told otherwise.
PARTICIPANT_NAME = personal("Test Person")
CONTACT_NAME = personal("Marguerite Ashdown-Pell")


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """A programme made for a test, with its admin and one counselor."""

    programme_id: uuid.UUID
    admin_id: uuid.UUID
    admin_email: str
    counselor_id: uuid.UUID
    counselor_email: str
    password: str


def subject_keys() -> SubjectKeys:
    """The participants' and contacts' keys under this run's master key, for a Recorder built by a test."""
    return SubjectKeys(base64.b64decode(MASTER_KEY))


def new_id() -> str:
    """A fresh UUID as the wire carries it."""
    return str(uuid.uuid4())


def envelope(
    type_: str,
    data: dict[str, Any],
    *,
    occurred_at: str = "2026-03-02T10:00:00Z",
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One event envelope as a client sends it."""
    body: dict[str, Any] = {"type": type_, "occurred_at": occurred_at, "data": data, **extra}
    if event_id is not None:
        body["event_id"] = event_id
    return body


def enrolment(counselor_id: uuid.UUID | str, **data: Any) -> dict[str, Any]:
    """A participant_enrolled envelope."""
    return envelope(
        "participant_enrolled",
        {
            "enrolled_on": "2026-03-01",
            "counselor_id": str(counselor_id),
            "profile": {"display_name": PARTICIPANT_NAME},
            **data,
        },
        occurred_at="2026-03-01T09:00:00Z",
    )


def contact_added(name: str = CONTACT_NAME) -> dict[str, Any]:
    """A contact_added envelope."""
    return envelope("contact_added", {"name": name}, occurred_at="2026-02-01T09:00:00Z")


def employer_added(name: str = "An Employer") -> dict[str, Any]:
    """An employer_added envelope."""
    return envelope("employer_added", {"name": name}, occurred_at="2026-02-01T09:00:00Z")


class Api:
    """The API as one logged-in user."""

    def __init__(self, client: AsyncTestClient, token: str) -> None:  # type: ignore[type-arg]
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    async def login(cls, client: AsyncTestClient, email: str, password: str) -> Api:  # type: ignore[type-arg]
        response = await client.post("/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return cls(client, response.json()["access_token"])

    async def post(self, path: str, body: Any, **headers: str) -> Any:
        return await self.client.post(path, json=body, headers={**self.headers, **headers})

    async def get(self, path: str) -> Any:
        return await self.client.get(path, headers=self.headers)

    async def download(self, path: str, *, within: float = 30.0) -> Any:
        """GET an export, asking again at ``Location`` while the worker renders it (202), as a client would."""
        deadline = asyncio.get_running_loop().time() + within
        response = await self.get(path)
        while response.status_code == 202 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            response = await self.get(response.headers["location"])
        return response

    async def record(self, kind: str, record_id: str, body: Any, **headers: str) -> Any:
        return await self.post(f"/v1/{kind}s/{record_id}/events", body, **headers)

    async def new_contact(self) -> str:
        contact = new_id()
        response = await self.record("contact", contact, contact_added())
        assert response.status_code == 201, response.text
        return contact

    async def new_employer(self) -> str:
        employer = new_id()
        response = await self.record("employer", employer, employer_added())
        assert response.status_code == 201, response.text
        return employer

    async def new_participant(self, counselor_id: uuid.UUID | str) -> str:
        participant = new_id()
        response = await self.record("participant", participant, enrolment(counselor_id))
        assert response.status_code == 201, response.text
        return participant


@asynccontextmanager
async def in_this_loop(app: Litestar, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """The app, started, answering an HTTP client in the test's own event loop.

    Litestar's ``AsyncTestClient`` hands each request to the app in a thread of its
    own and waits for the answer, so requests gathered in a test still run one by
    one. Through this client they run at the same time, as under a server. The pages'
    cookies are Secure: ``base_url="https://…"`` for a client that logs in to them.
    """
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60) as client:
            yield client


def incoming(line: dict[str, Any]) -> IncomingEvent:
    """A log line (as in the worked examples) as the recorder takes it."""
    return IncomingEvent(
        stream_id=line["stream_id"],
        event_id=uuid.UUID(line["event_id"]),
        occurred_at=dt.datetime.fromisoformat(line["occurred_at"]),
        event=decode_data(line["type"], line["data"]),
    )


async def project_everything(worker_pool: asyncpg.Pool) -> None:
    """Bring every projection the worker keeps up to the store's head (as the worker would).

    Settling up to 30 s: a transaction open anywhere in the cluster (another test run's) holds the horizon,
    and with it the events just appended, back for a moment.
    """
    store = EventStore(worker_pool)
    for projection, table in PROJECTIONS.values():
        await catch_up(store, projection, table=table, settle_seconds=30)
