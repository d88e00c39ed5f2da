"""No names, e-mail addresses or phone numbers in the logs or in Redis: they stay in PostgreSQL.

The API is exercised with distinctive personal data (a participant's name, a
contact's name, e-mail address and phone number, a user's e-mail address) on
the paths that succeed and on those that fail (validation errors, conflicts,
wrong passwords), the worker is woken and drained through Redis, and then every
log record of every logger (at DEBUG) and every Redis key and value of this
test's prefix is searched for them. At the end of the run, every log line of the
whole run is searched for them too, among the other values tests record
(tests/log_watch.py).
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import pytest
import redis.asyncio as redis
from arq.worker import Worker
from litestar.testing import AsyncTestClient

from infra.event_store import EventStore
from infra.queue import queue_name
from infra.settings import Settings
from services.worker.app import worker_kwargs
from tests import log_watch
from tests.support import Api, Tenant, envelope, new_id, personal

Client = AsyncTestClient  # type: ignore[type-arg]

PARTICIPANT_NAME = personal("Philippa Wolstenholme-Ngata")
CONTACT_NAME = personal("Barnaby Threlkeld-Osei")
CONTACT_EMAIL = personal("barnaby.threlkeld-osei@quillmail.example")
CONTACT_PHONE = personal("+1 555 014 7829")
NEW_CONTACT_PHONE = personal("+1 555 019 3364")
USER_EMAIL = personal("ysolde.fairweather-staff@northside.example")
PERSONAL = [PARTICIPANT_NAME, CONTACT_NAME, CONTACT_EMAIL, CONTACT_PHONE, NEW_CONTACT_PHONE, USER_EMAIL]


def _forms(value: str) -> set[str]:
    """The value as it could be written: as is, lower-cased, and without the spaces or dashes of a phone number."""
    forms = {value, value.lower()}
    if value.startswith("+"):
        forms |= {value.replace(" ", ""), value.replace(" ", "-")}
    return forms


FORMS = sorted({form for value in PERSONAL for form in _forms(value)})


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog capturing every logger there is at DEBUG (restored afterwards by caplog)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def _exercise(client: Client, api: Api, tenant: Tenant) -> None:
    """Record, read and fail with personal data in the requests."""
    participant, contact = new_id(), new_id()
    added = envelope(
        "contact_added",
        {"name": CONTACT_NAME, "email": CONTACT_EMAIL, "phone": CONTACT_PHONE, "role": "Kitchen manager"},
        occurred_at="2026-02-01T09:00:00Z",
        event_id=new_id(),
    )
    assert (await api.record("contact", contact, added)).status_code == 201
    updated = envelope("contact_updated", {"phone": NEW_CONTACT_PHONE}, occurred_at="2026-02-03T09:00:00Z")
    assert (await api.record("contact", contact, updated)).status_code == 201
    enrolled = envelope(
        "participant_enrolled",
        {
            "enrolled_on": "2026-03-01",
            "counselor_id": str(tenant.counselor_id),
            "profile": {"display_name": PARTICIPANT_NAME, "age_band": "25-34"},
        },
        occurred_at="2026-03-01T09:00:00Z",
    )
    outreach = envelope(
        "outreach_sent",
        {"outreach_id": new_id(), "contact_id": contact, "channel": "phone", "purpose": "introduction"},
        occurred_at="2026-03-02T10:00:00Z",
    )
    assert (await api.record("participant", participant, {"events": [enrolled, outreach]})).status_code == 201

    # Refused requests carrying the same data: a broken rule, a bad field, a reused event id, bad JSON.
    twice = await api.record("participant", participant, enrolled)
    assert twice.status_code == 422
    bad_field = envelope("contact_updated", {"email": CONTACT_EMAIL, "nickname": CONTACT_NAME})
    assert (await api.record("contact", contact, bad_field)).status_code == 422
    reused = {**added, "data": {**added["data"], "name": CONTACT_NAME + " Jr"}}
    assert (await api.record("contact", contact, reused)).status_code == 409
    not_json = await client.post(
        f"/v1/contacts/{contact}/events",
        content=f'{{"type": "contact_updated", "data": {{"name": "{CONTACT_NAME}"'.encode(),
        headers={**api.headers, "content-type": "application/json"},
    )
    assert not_json.status_code == 400
    unknown_stream = await api.record("contact", new_id(), updated)
    assert unknown_stream.status_code == 422

    # Users and logins with an e-mail address.
    created = await api.post("/v1/users", {"email": USER_EMAIL, "role": "staff", "password": tenant.password})
    assert created.status_code == 201
    taken = await api.post("/v1/users", {"email": USER_EMAIL, "role": "staff", "password": tenant.password})
    assert taken.status_code == 409
    wrong = await client.post("/v1/auth/login", json={"email": USER_EMAIL, "password": "not the password"})
    assert wrong.status_code == 401
    staff = await Api.login(client, USER_EMAIL, tenant.password)

    # Reads that answer the personal data (to the caller, not to the logs).
    for path in (
        f"/v1/participants/{participant}/events",
        f"/v1/contacts/{contact}/events",
        f"/v1/participants/{participant}/timeline",
        f"/v1/participants/{participant}/relationships",
        "/v1/follow-ups",
        "/v1/reports/outcomes",
        "/v1/reports/outcomes?format=csv",
    ):
        assert (await staff.get(path)).status_code == 200, path


async def _redis_contents(settings: Settings) -> tuple[list[str], bytes]:
    """Every key of this test's prefix (arq's job keys included) and all their values, concatenated."""
    client = redis.from_url(settings.redis_url)
    try:
        keys = sorted({key async for key in client.scan_iter(match=f"*{settings.redis_prefix}*")})
        values: list[bytes] = [key for key in keys]
        for key in keys:
            match (await client.type(key)).decode():
                case "string":
                    values.append(await client.get(key) or b"")
                case "hash":
                    values.extend(b"%s=%s" % pair for pair in (await client.hgetall(key)).items())
                case "zset":
                    values.extend(await client.zrange(key, 0, -1))
                case "list":
                    values.extend(await client.lrange(key, 0, -1))
                case "set":
                    values.extend(await client.smembers(key))
                case "stream":
                    values.extend(repr(entry).encode() for entry in await client.xrange(key))
        return [key.decode() for key in keys], b"\n".join(values)
    finally:
        await client.aclose()


def _found_in(text: bytes) -> list[str]:
    return [form for form in FORMS if form.encode() in text]


def _logged(caplog: pytest.LogCaptureFixture) -> bytes:
    records: list[Any] = caplog.records
    lines = [caplog.text]
    for record in records:
        lines += [record.getMessage(), repr(record.args), record.exc_text or "", str(record.__dict__)]
    return "\n".join(lines).encode()


async def test_personal_data_reaches_neither_the_logs_nor_redis(
    every_logger_at_debug: pytest.LogCaptureFixture,
    client: Client,
    api: Api,
    tenant: Tenant,
    settings: Settings,
    worker_pool: asyncpg.Pool,
) -> None:
    caplog = every_logger_at_debug
    await _exercise(client, api, tenant)

    keys, contents = await _redis_contents(settings)
    assert f"{queue_name(settings)}" in keys, "the appends did not wake the worker through Redis"
    assert _found_in(contents) == []

    worker = Worker(**{**worker_kwargs(settings, EventStore(worker_pool)), "burst": True, "poll_delay": 0})
    try:
        await worker.main()
    finally:
        await worker.close()
    assert worker.jobs_complete >= 1
    _, contents = await _redis_contents(settings)
    assert _found_in(contents) == []

    logged = _logged(caplog)
    assert len(caplog.records) > 20  # the check is not vacuous: requests and the worker's jobs were logged
    assert _found_in(logged) == []


async def test_the_leak_check_finds_personal_data_where_it_is(
    every_logger_at_debug: pytest.LogCaptureFixture, settings: Settings
) -> None:
    """The searches above would see a leak: a name logged and a name put in Redis are found."""
    with log_watch.probing():  # a leak on purpose: the whole run's watch must not count it
        logging.getLogger("peoplelinks.api").debug("enrolled %s", PARTICIPANT_NAME)
    assert _found_in(_logged(every_logger_at_debug)) == [PARTICIPANT_NAME]
    client = redis.from_url(settings.redis_url)
    try:
        await client.set(f"{settings.redis_prefix}:probe", CONTACT_PHONE.replace(" ", ""), ex=60)
        _, contents = await _redis_contents(settings)
        assert _found_in(contents) == [CONTACT_PHONE.replace(" ", "")]
    finally:
        await client.delete(f"{settings.redis_prefix}:probe")
        await client.aclose()
