"""Names, e-mail addresses and phone numbers are encrypted at rest, and an erasure removes them for good.

After an erasure the person's identifying fields are nowhere to be read (the
whole database, Redis, the logs, a backup restored later once the ledger is
re-applied), while every figure of the outcome report stays the same.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from domain.privacy import ERASED
from infra.crypto import DataKey, KeyUnusable, MasterKeyMissing, Subject, SubjectKeys
from infra.db import Connection, tenant_connection
from infra.erasures import ErasureLedger
from infra.event_store import EventStore, Metadata
from infra.settings import Settings
from services.api.app import create_app
from services.cli import main
from services.recording import Recorder
from tests.generators import programme_log
from tests.support import Api, Tenant, envelope, incoming, new_id, personal, project_everything, subject_keys

Client = AsyncTestClient  # type: ignore[type-arg]

REPORT = "/v1/reports/outcomes?from=2025-01-01&to=2026-06-30&as_of=2026-09-30"
NAME = personal("Zephyrine Quillfeather-Abernathy")
CONTACT_NAME = personal("Bartholomew Nightingale-Oduya")
EMAIL = personal("b.nightingale.oduya@quillmail.example")
PHONE = personal("+1 555 0199 4242")
# Every piece that would give the person away, searched for case-insensitively.
NEEDLES = (NAME, "Zephyrine", "Quillfeather", CONTACT_NAME, "Nightingale", EMAIL, "quillmail", PHONE, "0199 4242")


class Person:
    """A participant and a contact with distinctive names, linked by an outreach, a hire and its verification."""

    def __init__(self, participant: str, contact: str) -> None:
        self.participant = participant
        self.contact = contact


async def _record_person(api: Api, tenant: Tenant) -> Person:
    employer = await api.new_employer()
    contact, participant = new_id(), new_id()
    added = envelope(
        "contact_added",
        {"name": CONTACT_NAME, "email": EMAIL, "phone": PHONE, "organization": "Acme", "role": "Hiring manager"},
        occurred_at="2026-02-01T09:00:00Z",
    )
    assert (await api.record("contact", contact, added)).status_code == 201
    outreach, job = new_id(), new_id()
    events = [
        envelope(
            "participant_enrolled",
            {
                "enrolled_on": "2026-03-01",
                "counselor_id": str(tenant.counselor_id),
                "cohort": "spring",
                "profile": {"display_name": NAME, "age_band": "25-34", "gender": "woman", "veteran": False},
            },
            occurred_at="2026-03-01T09:00:00Z",
        ),
        envelope(
            "relationship_noted",
            {"contact_id": contact, "closeness": "well", "how_known": "former_colleague"},
            occurred_at="2026-03-02T09:00:00Z",
        ),
        envelope(
            "outreach_sent",
            {"outreach_id": outreach, "contact_id": contact, "channel": "email", "purpose": "ask_for_referral"},
            occurred_at="2026-03-03T09:00:00Z",
        ),
        envelope(
            "response_received", {"outreach_id": outreach, "outcome": "positive"}, occurred_at="2026-03-04T09:00:00Z"
        ),
        envelope(
            "hired",
            {
                "job_id": job,
                "employer_id": employer,
                "title": "Line cook",
                "start_date": "2026-04-01",
                "hourly_wage": "18.50",
                "source": "network_contact",
                "via_contact_id": contact,
            },
            occurred_at="2026-03-20T09:00:00Z",
        ),
        envelope(
            "employment_verified",
            {"job_id": job, "verified_on": "2026-07-15", "method": "pay_stub"},
            occurred_at="2026-07-15T09:00:00Z",
        ),
    ]
    answer = await api.record("participant", participant, {"events": events})
    assert answer.status_code == 201, answer.text
    return Person(participant, contact)


async def _seed_programme(pool: asyncpg.Pool, tenant: Tenant) -> None:
    """Other participants, so that the report has figures besides the person's."""
    log = programme_log(random.Random(5), [str(tenant.counselor_id)], participants=12, actions=10)
    await Recorder(EventStore(pool), keys=subject_keys()).record(
        tenant.programme_id, [incoming(line) for line in log], Metadata(programme_id=tenant.programme_id)
    )


async def _project(worker_pool: asyncpg.Pool) -> None:
    await project_everything(worker_pool)


async def _database_text(owner: asyncpg.Connection) -> str:
    """Every row of every table of the database, as text (the owner sees every programme's rows)."""
    tables = await owner.fetch(
        """SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg_toast%'"""
    )
    assert len(tables) > 5
    dumps = []
    for table in tables:
        rows = await owner.fetch(f"SELECT t::text AS row FROM {table['name']} t")
        dumps += [row["row"] for row in rows]
    return "\n".join(dumps)


async def _redis_text(settings: Settings) -> str:
    """Every key of this test's prefix in Redis, and every value under them."""
    redis = Redis.from_url(settings.redis_url)
    parts: list[str] = []
    try:
        async for raw in redis.scan_iter(match=f"*{settings.redis_prefix}*"):
            key = raw.decode(errors="replace")
            value: Any
            match (await redis.type(key)).decode():
                case "string":
                    value = await redis.get(key)
                case "list":
                    value = await redis.lrange(key, 0, -1)
                case "set":
                    value = await redis.smembers(key)
                case "zset":
                    value = await redis.zrange(key, 0, -1, withscores=True)
                case "hash":
                    value = await redis.hgetall(key)
                case other:
                    value = await redis.xrange(key) if other == "stream" else other
            parts += [key, repr(value)]
    finally:
        await redis.aclose()
    return "\n".join(parts)


def _assert_absent(text: str, where: str) -> None:
    found = [needle for needle in NEEDLES if needle.lower() in text.lower()]
    assert not found, f"{found} found in {where}"


async def _events(api: Api, kind: str, record_id: str) -> dict[str, Any]:
    response = await api.get(f"/v1/{kind}s/{record_id}/events")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _user(api: Api, client: Client, role: str, tenant: Tenant) -> Api:
    email = f"{role}-{uuid.uuid4().hex[:6]}@northside.example"
    created = await api.post("/v1/users", {"email": email, "role": role, "password": tenant.password})
    assert created.status_code == 201, created.text
    return await Api.login(client, email, tenant.password)


async def test_names_emails_and_phones_are_encrypted_at_rest_and_read_back_by_admins_and_staff(
    api: Api, client: Client, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    person = await _record_person(api, tenant)

    _assert_absent(await _database_text(owner), "the database")
    stored = await owner.fetchval(
        "SELECT data FROM events WHERE stream_id = $1 AND type = 'contact_added'", f"contact-{person.contact}"
    )
    assert all(stored[field].startswith("pl:enc:v1:") for field in ("name", "email", "phone"))
    assert stored["organization"] == "Acme" and stored["role"] == "Hiring manager"  # not identifying: kept readable

    staff = await _user(api, client, "staff", tenant)
    for reader in (api, staff):
        participant = await _events(reader, "participant", person.participant)
        assert participant["events"][0]["data"]["profile"]["display_name"] == NAME
        assert participant["erased"] is False
        contact = (await _events(reader, "contact", person.contact))["events"][0]["data"]
        assert (contact["name"], contact["email"], contact["phone"]) == (CONTACT_NAME, EMAIL, PHONE)
    funder = await _user(api, client, "funder", tenant)
    assert (await funder.get(f"/v1/participants/{person.participant}/events")).status_code == 403


async def test_after_erasure_the_name_is_nowhere_and_the_outcome_report_is_unchanged(
    api: Api,
    tenant: Tenant,
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    owner: asyncpg.Connection,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await _seed_programme(pool, tenant)
    person = await _record_person(api, tenant)
    await _project(worker_pool)
    report = await api.get(REPORT)
    assert report.status_code == 200, report.text
    assert report.json()["figures"]["enrolled"]["value"] >= 13
    export = await api.get(f"{REPORT}&format=csv")
    assert export.status_code == 200

    for kind, record_id in (("participant", person.participant), ("contact", person.contact)):
        erased = await api.post(f"/v1/{kind}s/{record_id}/erase", None)
        assert erased.status_code == 200, erased.text
        assert erased.json()["erased_by"] == str(tenant.admin_id)
    await _project(worker_pool)

    participant = await _events(api, "participant", person.participant)
    assert participant["erased"] is True
    assert participant["events"][0]["data"]["profile"] == {
        "display_name": ERASED,
        "age_band": "25-34",
        "gender": "woman",
        "veteran": False,
    }
    assert [e["type"] for e in participant["events"]][-1] == "employment_verified"  # the history stays
    contact = await _events(api, "contact", person.contact)
    assert contact["erased"] is True
    data = contact["events"][0]["data"]
    assert (data["name"], data["email"], data["phone"], data["organization"]) == (ERASED, ERASED, ERASED, "Acme")

    again = await api.get(REPORT)
    assert again.json() == report.json()  # every figure, the position and the hash
    export_again = await api.get(f"{REPORT}&format=csv")
    assert export_again.content == export.content
    _assert_absent(export_again.text, "the CSV export")

    _assert_absent(await _database_text(owner), "the database")
    redis = await _redis_text(settings)
    assert settings.redis_prefix in redis  # the wake-ups were there to be searched
    _assert_absent(redis, "Redis")
    logged = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    assert "HTTP Request" in logged  # the logs were captured
    _assert_absent(logged, "the logs")


async def test_erasure_is_for_admins_idempotent_and_of_the_callers_programme_only(
    api: Api, client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    person = await _record_person(api, tenant)
    for role in ("staff", "counselor", "funder"):
        user = (
            await Api.login(client, tenant.counselor_email, tenant.password)
            if role == "counselor"
            else await _user(api, client, role, tenant)
        )
        assert (await user.post(f"/v1/participants/{person.participant}/erase", None)).status_code == 403
    other = await Api.login(client, other_tenant.admin_email, other_tenant.password)
    assert (await other.post(f"/v1/participants/{person.participant}/erase", None)).status_code == 404
    assert (await api.post(f"/v1/participants/{new_id()}/erase", None)).status_code == 404
    assert (await api.post(f"/v1/contacts/{person.participant}/erase", None)).status_code == 404

    first = await api.post(f"/v1/participants/{person.participant}/erase", None)
    second = await api.post(f"/v1/participants/{person.participant}/erase", None)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["kind"] == "participant" and first.json()["subject_id"] == person.participant
    # Erasing the participant leaves the contact they know as it was.
    assert (await _events(api, "contact", person.contact))["erased"] is False


async def test_an_erased_contact_takes_no_new_name_but_its_records_go_on(api: Api, tenant: Tenant) -> None:
    person = await _record_person(api, tenant)
    assert (await api.post(f"/v1/contacts/{person.contact}/erase", None)).status_code == 200

    renamed = await api.record(
        "contact", person.contact, envelope("contact_updated", {"name": "Someone Else", "role": "Owner"})
    )
    assert renamed.status_code == 422, renamed.text
    assert renamed.json()["errors"][0]["field"] == "data.name"
    moved = await api.record("contact", person.contact, envelope("contact_updated", {"organization": "Globex"}))
    assert moved.status_code == 201, moved.text
    outreach = envelope(
        "outreach_sent",
        {"outreach_id": new_id(), "contact_id": person.contact, "channel": "phone", "purpose": "thank_you"},
        occurred_at="2026-07-20T09:00:00Z",
    )
    assert (await api.record("participant", person.participant, outreach)).status_code == 201


async def test_a_retried_request_is_recognised_though_each_encryption_differs(
    api: Api, tenant: Tenant, owner: asyncpg.Connection
) -> None:
    contact = new_id()
    body = envelope("contact_added", {"name": CONTACT_NAME, "email": EMAIL}, event_id=new_id())
    first = await api.record("contact", contact, body)
    again = await api.record("contact", contact, body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = {**body, "data": {"name": "Someone Else", "email": EMAIL}}
    assert (await api.record("contact", contact, other)).status_code == 409

    assert (await api.post(f"/v1/contacts/{contact}/erase", None)).status_code == 200
    after = await api.record("contact", contact, body)
    assert after.status_code == 201  # the same request still answers as the first time
    assert after.json() == first.json()
    assert await owner.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", f"contact-{contact}") == 1


async def test_a_restored_backup_of_an_erased_key_is_erased_again_by_reapply(
    api: Api, tenant: Tenant, owner: asyncpg.Connection, settings: Settings
) -> None:
    person = await _record_person(api, tenant)
    subject_id = uuid.UUID(person.participant)
    backup = await owner.fetchrow("SELECT * FROM subject_keys WHERE subject_id = $1", subject_id)
    assert backup is not None and backup["wrapped_key"] is not None
    assert (await api.post(f"/v1/participants/{person.participant}/erase", None)).status_code == 200
    ledger = Path(settings.erasure_ledger)
    listed = ErasureLedger(ledger).read()
    assert [(e.kind, e.subject_id) for e in listed.erasures] == [("participant", subject_id)]
    _assert_absent(await asyncio.to_thread(ledger.read_text), "the erasure ledger")

    # The database comes back from a backup taken before the erasure: the name is readable again.
    await owner.execute(
        "UPDATE subject_keys SET wrapped_key = $2, erased_at = NULL, erased_by = NULL WHERE subject_id = $1",
        subject_id,
        backup["wrapped_key"],
    )
    restored = await _events(api, "participant", person.participant)
    assert restored["events"][0]["data"]["profile"]["display_name"] == NAME

    env = {"DATABASE_URL": settings.database_url, "PEOPLELINKS_ERASURE_LEDGER": settings.erasure_ledger}
    result = await asyncio.to_thread(CliRunner().invoke, main, ["erasures", "reapply"], env=env)
    assert result.exit_code == 0, result.output
    assert '"reapplied": 1' in result.output
    reread = await _events(api, "participant", person.participant)
    assert reread["erased"] is True
    assert reread["events"][0]["data"]["profile"]["display_name"] == ERASED
    erased_by = await owner.fetchval("SELECT erased_by FROM subject_keys WHERE subject_id = $1", subject_id)
    assert erased_by == tenant.admin_id

    twice = await asyncio.to_thread(CliRunner().invoke, main, ["erasures", "reapply"], env=env)
    assert twice.exit_code == 0 and '"reapplied": 0' in twice.output


async def test_a_name_as_long_as_the_api_allows_is_sealed_projected_and_read_back(
    api: Api, tenant: Tenant, worker_pool: asyncpg.Pool
) -> None:
    participant = new_id()
    long_name = "Ŵ" * 500  # 1,000 bytes: sealed, far longer than the 500 characters the field admits
    body = envelope(
        "participant_enrolled",
        {"enrolled_on": "2026-03-01", "counselor_id": str(tenant.counselor_id), "profile": {"display_name": long_name}},
    )
    assert (await api.record("participant", participant, body)).status_code == 201
    await _project(worker_pool)  # the read model never sees the sealed value
    read = await _events(api, "participant", participant)
    assert read["events"][0]["data"]["profile"]["display_name"] == long_name


async def test_a_sealed_value_opens_only_for_its_programme_person_and_field() -> None:
    programme, subject = uuid.uuid4(), Subject("contact", uuid.uuid4())
    key = bytes(range(32))
    sealed = DataKey(key, programme, subject).seal(("name",), CONTACT_NAME)
    assert sealed.startswith("pl:enc:v1:") and CONTACT_NAME not in sealed
    assert sealed != DataKey(key, programme, subject).seal(("name",), CONTACT_NAME)  # a fresh nonce each time
    assert DataKey(key, programme, subject).open(("name",), sealed) == CONTACT_NAME
    for other in (
        DataKey(key, programme, Subject("contact", uuid.uuid4())),
        DataKey(key, programme, Subject("participant", subject.subject_id)),
        DataKey(key, uuid.uuid4(), subject),
    ):
        with pytest.raises(KeyUnusable):
            other.open(("name",), sealed)
    with pytest.raises(KeyUnusable):
        DataKey(key, programme, subject).open(("email",), sealed)


def test_the_api_does_not_start_without_a_master_key(settings: Settings) -> None:
    without = Settings(**{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "master_key": ""})
    with pytest.raises(MasterKeyMissing, match="PEOPLELINKS_MASTER_KEY"):
        create_app(without)
    with pytest.raises(MasterKeyMissing):
        SubjectKeys.from_settings(Settings(master_key="dG9vIHNob3J0"))


async def test_when_the_ledger_cannot_be_written_nothing_is_erased(
    api: Api, tenant: Tenant, settings: Settings, tmp_path: Path
) -> None:
    person = await _record_person(api, tenant)
    blocker = tmp_path / "not-a-directory"
    await asyncio.to_thread(blocker.write_text, "")
    fields = {f: getattr(settings, f) for f in settings.__struct_fields__}
    broken = Settings(**{**fields, "erasure_ledger": str(blocker / "erasure-ledger.jsonl")})
    async with AsyncTestClient(app=create_app(broken), timeout=60) as client:
        admin = await Api.login(client, tenant.admin_email, tenant.password)
        refused = await admin.post(f"/v1/participants/{person.participant}/erase", None)
        assert refused.status_code == 500
    assert (await _events(api, "participant", person.participant))["erased"] is False


async def test_concurrent_creations_of_one_person_store_one_readable_name(api: Api) -> None:
    contact = new_id()
    bodies = [envelope("contact_added", {"name": f"{CONTACT_NAME} {n}"}) for n in range(12)]
    answers = await asyncio.gather(*(api.record("contact", contact, body) for body in bodies))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409, 422}, statuses
    winner = next(body for body, answer in zip(bodies, answers, strict=True) if answer.status_code == 201)
    read = await _events(api, "contact", contact)
    assert [e["data"]["name"] for e in read["events"]] == [winner["data"]["name"]]


async def test_a_request_that_loses_the_race_to_make_a_persons_key_uses_the_winners(
    pool: asyncpg.Pool, tenant: Tenant
) -> None:
    keys, subject = subject_keys(), Subject("contact", uuid.uuid4())
    async with (
        tenant_connection(pool, tenant.programme_id) as first,
        tenant_connection(pool, tenant.programme_id) as second,
    ):
        async with first.transaction():
            made = (await keys.for_writing(first, tenant.programme_id, [subject]))[subject]
            sealed = made.seal(("name",), CONTACT_NAME)
            # The second waits on the first's uncommitted key, then finds it made after its snapshot.
            losing = asyncio.create_task(_key_in_transaction(keys, second, tenant.programme_id, subject))
            await asyncio.sleep(0.2)
            assert not losing.done()
        assert (await losing).open(("name",), sealed) == CONTACT_NAME


async def _key_in_transaction(
    keys: SubjectKeys, conn: Connection, programme_id: uuid.UUID, subject: Subject
) -> DataKey:
    async with conn.transaction():
        return (await keys.for_writing(conn, programme_id, [subject]))[subject]
