"""Projections: catch-up from position 0, freshness under load, and the memory of a rebuild.

A benchmark, not a test. It makes its own database ``plbench_<random>`` on the
PostgreSQL server named by ``--dsn`` (migrated as by ``peoplelinks migrate``),
generates a store of valid events (``--participants``, default 5,000, whose
stories come from ``services.demo.demo_log``, with extra outreach threads,
responses and voids until ``--events`` is reached, by default 200 a participant:
1,000,000; plus a small second programme), and measures:

- ``catchup``: every projection of ``projections.registry`` caught up from
  position 0 by ``projections.runner.catch_up`` (the worker's own batches), against
  simply reading the same events with ``EventStore.read_all`` and decoding each
  with ``domain.events.decode_data``;
- ``freshness``: ``peoplelinks api`` and ``peoplelinks worker`` as subprocesses
  (a private Redis prefix), outreach appended at ``--fresh-rate`` events/s through
  the HTTP API into the small programme by a few clients; for a sample of appends,
  the time from the 201 to the first answer of that programme's response-rate
  dashboard whose ``global_position`` has reached the append's position;
- ``memory``: the peak RSS of ``peoplelinks rebuild`` (its VmHWM) and the RSS of
  the worker meanwhile, on the big store and on a smaller one (``--small-events``).

The figures go to ``bench/RESULTS.md`` (section "Projections (bench/projections.py)";
other sections are kept). The database is dropped at the end unless ``--keep``;
``--database`` reuses one kept before (``bench/reads.py`` can use it too).
PostgreSQL's settings are read and reported, never changed.

Run: ``python -m bench.projections`` (about 10 minutes), ``python -m bench.projections --quick`` (smoke check).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import collections
import contextlib
import datetime as dt
import itertools
import math
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import msgspec
from rich.progress import Progress
from rich.table import Table

from bench.append import (
    ACCOUNTING,
    QUIET,
    _parent_of,
    code_under_test,
    console,
    cpu_delta,
    cpu_snapshot,
    drop_redis_keys,
    free_port,
    make_progress,
    make_recorder,
    profiled,
    run_async,
    settle,
    with_database,
)
from domain.events import decode_data
from infra.accounts import create_programme, create_user, hash_password
from infra.db import create_app_pool, create_worker_pool, tenant_connection
from infra.event_store import Cursor, EventStore, Metadata, NewEvent, StreamAppend
from infra.migrate import migrate
from infra.settings import Settings
from projections.registry import PROJECTIONS
from projections.runner import catch_up, projection_status, read_checkpoint
from services import heap
from services.demo import demo_log
from services.recording import IncomingEvent
from services.recording import _new_event as recorded_form  # what the Recorder stores: canonical, sealed
from services.recording import _personal_fields as personal_fields

SECTION = "## Projections (bench/projections.py)"
NOTES_START = "<!-- notes:start -->"
NOTES_END = "<!-- notes:end -->"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
PHASES = ("catchup", "freshness", "memory")

AIM_CATCHUP_RATE = 20_000
AIM_CATCHUP_RATIO = 3.0
AIM_FRESH_P95_MS = 300.0
AIM_MEMORY_MB = 300.0
EVENTS_PER_PARTICIPANT = 200
"""The big programme's events a participant when ``--events`` is not given (5,000 participants: 1M events)."""

_DAY = dt.timedelta(days=1)
_HOUR = dt.timedelta(hours=1)


# --------------------------------------------------------------------------- the generated store


class ProgrammeInfo(msgspec.Struct, kw_only=True):
    """One programme of the bench store, its users and its records."""

    programme_id: uuid.UUID
    name: str
    admin_email: str
    admin_id: uuid.UUID
    staff_email: str
    funder_email: str
    counselor_ids: list[uuid.UUID]
    participants: list[uuid.UUID]
    contacts: list[uuid.UUID]
    events: int = 0


class BenchStore(msgspec.Struct, kw_only=True):
    """What ``build_store`` made; kept in the database itself (table ``plbench_meta``) for ``--database``."""

    db_name: str
    big: ProgrammeInfo
    small: ProgrammeInfo
    events: int
    participants: int
    seed: int
    until: dt.datetime
    types: dict[str, int]
    generated_seconds: float
    appended_seconds: float
    how: str
    password: str = ""
    """Every user's password (a bench database holds nothing else of value)."""
    master_key: str = ""
    """The PEOPLELINKS_MASTER_KEY its personal fields are sealed under."""
    server_dsn: str = ""

    @property
    def database_url(self) -> str:
        return with_database(self.server_dsn, self.db_name)


Line = tuple[dt.datetime, int, str, str, str, dict[str, Any]]
"""(occurred_at, order, stream_id, type, event_id, data): one generated event."""

# Outreach threads added to the demo stories (the weights and answer rates of services.demo).
_CHANNEL_WEIGHTS = {"email": 34, "phone": 20, "text": 16, "linkedin": 14, "letter": 4, "in_person": 8, "walk_in": 4}
_ANSWER_RATE = {
    "email": 0.19,
    "phone": 0.34,
    "text": 0.3,
    "linkedin": 0.13,
    "letter": 0.1,
    "in_person": 0.55,
    "walk_in": 0.42,
}
_PURPOSE_WEIGHTS = {
    "introduction": 5,
    "ask_for_meeting": 4,
    "ask_for_referral": 3,
    "progress_update": 2,
    "offer_help": 1,
}
_OUTCOME_WEIGHTS = {"positive": 11, "neutral": 6, "declined": 3}
_SWITCH_ORDER = ("email", "phone", "text", "letter", "in_person")


def _cum(weights: dict[str, int]) -> tuple[list[str], list[int]]:
    return list(weights), list(itertools.accumulate(weights.values()))


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_lines(
    rng: random.Random, counselors: Sequence[uuid.UUID], participants: int, target: int, until: dt.datetime
) -> list[Line]:
    """A valid programme log of about ``target`` events, in the order it is appended (by occurred_at).

    ``services.demo.demo_log`` tells each participant's story (enrolment, People
    Links, outreach, applications, hires, verifications, exits, voids); outreach
    threads (follow-ups, responses, now and then a copy entered twice and voided)
    are then added inside each participant's active time, before any exit, in
    proportion to its length, until the log holds ``target`` events. References
    only point back in time and every addition lies before the stream's exit,
    so appending by ``occurred_at`` keeps every stream valid.
    """
    log = demo_log(rng, [str(c) for c in counselors], participants=participants, until=until)
    lines: list[Line] = []
    directory: list[str] = []
    windows: dict[str, list[Any]] = {}  # stream -> [start, end, contacts it knows]
    for order, entry in enumerate(log):
        when = dt.datetime.fromisoformat(entry["occurred_at"])
        stream, type_ = entry["stream_id"], entry["type"]
        lines.append((when, order, stream, type_, entry["event_id"], entry["data"]))
        if type_ == "contact_added":
            directory.append(stream.split("-", 1)[1])
        if not stream.startswith("participant-"):
            continue
        window = windows.get(stream)
        if window is None:
            window = windows[stream] = [when + _DAY, until - _HOUR, []]
        if type_ == "participant_exited":
            window[1] = min(window[1], when - _HOUR)
        elif type_ == "relationship_noted":
            window[2].append(entry["data"]["contact_id"])
    extra = max(0, target - len(lines))
    spans = {s: max(0.0, (w[1] - w[0]).total_seconds()) for s, w in windows.items()}
    total_span = sum(spans.values()) or 1.0
    channels, channel_cum = _cum(_CHANNEL_WEIGHTS)
    purposes, purpose_cum = _cum(_PURPOSE_WEIGHTS)
    outcomes, outcome_cum = _cum(_OUTCOME_WEIGHTS)
    order = itertools.count(len(lines))
    running, given = 0.0, 0
    for stream, window in windows.items():
        running += spans[stream]
        budget = round(extra * running / total_span) - given
        given += budget
        start, end, known = window
        span = spans[stream]
        while budget > 0 and span > 0:
            around = start + dt.timedelta(seconds=rng.uniform(0, span))
            contact = rng.choice(known) if known and rng.random() < 0.65 else rng.choice(directory)
            purpose = rng.choices(purposes, cum_weights=purpose_cum)[0]
            channel = rng.choices(channels, cum_weights=channel_cum)[0]
            used: dict[str, int] = {}
            previous: str | None = None
            for attempt in range(1, 7):
                if around >= end or budget <= 0:
                    break
                outreach = _new_id(rng)
                data: dict[str, Any] = {
                    "outreach_id": outreach,
                    "contact_id": contact,
                    "channel": channel,
                    "purpose": purpose if attempt == 1 else "follow_up",
                }
                if previous is not None:
                    data["follow_up_of"] = previous
                lines.append((around, next(order), stream, "outreach_sent", _new_id(rng), data))
                budget -= 1
                used[channel] = used.get(channel, 0) + 1
                if budget >= 2 and rng.random() < 0.012:
                    # The same outreach entered twice, the copy voided a little later.
                    copy = _new_id(rng)
                    lines.append(
                        (around, next(order), stream, "outreach_sent", copy, {**data, "outreach_id": _new_id(rng)})
                    )
                    voided_at = around + dt.timedelta(minutes=rng.randint(5, 90))
                    void = {"voided_event_id": copy, "reason": "entered twice"}
                    lines.append((voided_at, next(order), stream, "entry_voided", _new_id(rng), void))
                    budget -= 2
                if budget > 0 and rng.random() < _ANSWER_RATE[channel] * 0.9 ** (attempt - 1):
                    answered = around + dt.timedelta(seconds=3600 + rng.expovariate(1 / 3600))
                    if answered < end:
                        outcome = rng.choices(outcomes, cum_weights=outcome_cum)[0]
                        response = {"outreach_id": outreach, "outcome": outcome}
                        lines.append((answered, next(order), stream, "response_received", _new_id(rng), response))
                        budget -= 1
                        break
                if rng.random() > 0.7:
                    break
                previous = outreach
                around += dt.timedelta(days=rng.randint(7, 12), hours=rng.randint(0, 6))
                if used[channel] >= 2:
                    unused = [c for c in _SWITCH_ORDER if used.get(c, 0) < 2]
                    if not unused:
                        break
                    channel = unused[0]
    lines.sort(key=lambda line: (line[0], line[1]))
    return lines


def _partition(lines: list[Line], writers: int) -> tuple[list[Line], list[list[Line]]]:
    """The directory's events, then each writer's participant events (each stream owned by one writer)."""
    directory = [line for line in lines if not line[2].startswith("participant-")]
    owned: list[list[Line]] = [[] for _ in range(writers)]
    owner: dict[str, int] = {}
    for line in lines:
        stream = line[2]
        if not stream.startswith("participant-"):
            continue
        index = owner.get(stream)
        if index is None:
            index = owner[stream] = len(owner) % writers
        owned[index].append(line)
    return directory, owned


async def append_lines(
    pool: asyncpg.Pool,
    programme_id: uuid.UUID,
    actor_id: uuid.UUID,
    lines: list[Line],
    *,
    writers: int,
    batch: int,
    validate: bool,
    progress: Progress,
    description: str,
    settings: Settings,
) -> None:
    """Append ``lines`` in order: straight through ``EventStore.append``, or through the rules (``validate``).

    Each stream belongs to one writer, and the directory is appended first, so
    every stream's events are stored in order. Straight through the store, each
    event is still stored as the Recorder would store it: its data decoded as its
    class (the schema is checked), canonically encoded, and its personal fields
    sealed under its subject's key (made in the same transaction).
    """
    from infra.crypto import SubjectKeys

    task = progress.add_task(description, total=len(lines))
    store = EventStore(pool)
    recorder = make_recorder(store, settings)
    keys = SubjectKeys.from_settings(settings)
    metadata = Metadata(programme_id=programme_id, actor_id=actor_id)

    async def write(part: list[Line]) -> None:
        versions: dict[str, int] = {}
        for start in range(0, len(part), batch):
            chunk = part[start : start + batch]
            incoming = [
                IncomingEvent(
                    stream_id=stream, event_id=uuid.UUID(event_id), occurred_at=when, event=decode_data(type_, data)
                )
                for when, _, stream, type_, event_id, data in chunk
            ]
            if validate:
                await recorder.record(programme_id, incoming, metadata)
            else:
                async with tenant_connection(pool, programme_id) as conn, conn.transaction():
                    personal = personal_fields(incoming)
                    data_keys = await keys.for_writing(conn, programme_id, personal) if personal else {}
                    by_stream: dict[str, list[NewEvent]] = {}
                    for item in incoming:
                        by_stream.setdefault(item.stream_id, []).append(recorded_form(item, data_keys))
                    await store.append(conn, programme_id, _appends(by_stream, versions), metadata)
            progress.advance(task, len(chunk))
            await asyncio.sleep(0)  # let the other writers encode while this one waits on PostgreSQL

    directory, owned = _partition(lines, writers)
    await write(directory)
    await asyncio.gather(*(write(part) for part in owned if part))


def _appends(by_stream: dict[str, list[NewEvent]], versions: dict[str, int]) -> list[StreamAppend]:
    """One append a stream, after the version it is at; ``versions`` moved on."""
    appends = []
    for stream, events in by_stream.items():
        version = versions.get(stream, 0)
        appends.append(
            StreamAppend(stream_id=stream, kind=stream.split("-", 1)[0], expected_version=version, events=events)
        )
        versions[stream] = version + len(events)
    return appends


async def _users(conn: asyncpg.Connection, name: str, suffix: str, counselors: int, password: str) -> dict[str, Any]:
    programme_id, admin_id = await create_programme(
        conn, name=name, admin_email=f"admin-{suffix}@bench.example", admin_password=password
    )
    made: dict[str, Any] = {"programme_id": programme_id, "admin_id": admin_id, "counselor_ids": []}
    for role in ("staff", "funder"):
        await create_user(
            conn, programme_id=programme_id, email=f"{role}-{suffix}@bench.example", role=role, password=password
        )
    for n in range(counselors):
        made["counselor_ids"].append(
            await create_user(
                conn,
                programme_id=programme_id,
                email=f"counselor{n}-{suffix}@bench.example",
                role="counselor",
                password=password,
            )
        )
    return made


async def server_info(dsn: str) -> dict[str, str]:
    """PostgreSQL's version and durability settings, as the server has them."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            ["fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "commit_delay", "wal_level"],
        )
        info = {r["name"]: r["setting"] for r in rows}
        info["version"] = await conn.fetchval("SHOW server_version")
        info["shared_buffers"] = await conn.fetchval("SHOW shared_buffers")
        info["work_mem"] = await conn.fetchval("SHOW work_mem")
        ACCOUNTING["postmaster"] = _parent_of(await conn.fetchval("SELECT pg_backend_pid()"))
        return info
    finally:
        await conn.close()


async def create_database(dsn: str, name: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(dsn: str, name: str) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def settings_for(database_url: str, master_key: str = "") -> Settings:
    """Settings of the bench's own pools (the master key seals personal fields; the worker's pool needs none)."""
    env = {"DATABASE_URL": database_url, "PEOPLELINKS_SECRET_KEY": "x" * 40}
    if master_key:
        env["PEOPLELINKS_MASTER_KEY"] = master_key
    return Settings.from_env(env)


async def build_store(
    server_dsn: str,
    db_name: str,
    *,
    events: int,
    participants: int,
    seed: int,
    writers: int,
    batch: int,
    validate: bool,
    small_participants: int = 100,
    small_contacts: int = 40,
) -> BenchStore:
    """Create, migrate and fill ``db_name``: the big programme's log, and a small programme (freshness)."""
    url = with_database(server_dsn, db_name)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    until = now.replace(hour=0, minute=0, second=0, microsecond=0) - _DAY
    password = "bench-" + secrets.token_urlsafe(12)
    master_key = base64.b64encode(os.urandom(32)).decode()
    settings = settings_for(url, master_key)
    owner = await asyncpg.connect(url)
    try:
        await migrate(owner)
        suffix = db_name.removeprefix("plbench_")
        big = await _users(owner, "Bench Reentry Programme", f"big-{suffix}", max(2, participants // 250), password)
        small = await _users(owner, "Bench Small Programme", f"small-{suffix}", 1, password)
        await owner.execute("CREATE TABLE plbench_meta (key text PRIMARY KEY, value jsonb NOT NULL)")
    finally:
        await owner.close()
    with make_progress() as progress:
        task = progress.add_task("generating the log", total=None)
        started = time.perf_counter()
        lines = generate_lines(rng, big["counselor_ids"], participants, events, until)
        generated = time.perf_counter() - started
        progress.update(task, total=len(lines), completed=len(lines))
        pool = await create_app_pool(settings, min_size=writers, max_size=writers)
        try:
            started = time.perf_counter()
            await append_lines(
                pool,
                big["programme_id"],
                big["admin_id"],
                lines,
                writers=writers,
                batch=batch,
                validate=validate,
                progress=progress,
                description="appending (EventStore.append)" if not validate else "appending (Recorder.record)",
                settings=settings,
            )
            appended = time.perf_counter() - started
            small_lines = _small_programme(rng, small["counselor_ids"][0], small_participants, small_contacts, until)
            await append_lines(
                pool,
                small["programme_id"],
                small["admin_id"],
                small_lines,
                writers=1,
                batch=batch,
                validate=validate,
                progress=progress,
                description="the small programme",
                settings=settings,
            )
        finally:
            await pool.close()
    types = collections.Counter(line[3] for line in lines)
    store = BenchStore(
        db_name=db_name,
        big=ProgrammeInfo(
            programme_id=big["programme_id"],
            name="Bench Reentry Programme",
            admin_email=f"admin-big-{suffix}@bench.example",
            admin_id=big["admin_id"],
            staff_email=f"staff-big-{suffix}@bench.example",
            funder_email=f"funder-big-{suffix}@bench.example",
            counselor_ids=big["counselor_ids"],
            participants=[uuid.UUID(s.split("-", 1)[1]) for s, t in _creations(lines, "participant_enrolled")],
            contacts=[uuid.UUID(s.split("-", 1)[1]) for s, t in _creations(lines, "contact_added")],
            events=len(lines),
        ),
        small=ProgrammeInfo(
            programme_id=small["programme_id"],
            name="Bench Small Programme",
            admin_email=f"admin-small-{suffix}@bench.example",
            admin_id=small["admin_id"],
            staff_email=f"staff-small-{suffix}@bench.example",
            funder_email=f"funder-small-{suffix}@bench.example",
            counselor_ids=small["counselor_ids"],
            participants=[uuid.UUID(s.split("-", 1)[1]) for s, t in _creations(small_lines, "participant_enrolled")],
            contacts=[uuid.UUID(s.split("-", 1)[1]) for s, t in _creations(small_lines, "contact_added")],
            events=len(small_lines),
        ),
        events=len(lines) + len(small_lines),
        participants=participants,
        seed=seed,
        until=until,
        types=dict(types.most_common()),
        generated_seconds=generated,
        appended_seconds=appended,
        how=(
            f"through `Recorder.record` (every append rule checked), {batch:,} events a call"
            if validate
            else f"with `EventStore.append` (rules bypassed; each event decoded as its class, canonically encoded "
            f"and its personal fields sealed, as the Recorder stores it) from {writers} connections, {batch:,} events "
            "a transaction"
        ),
        password=password,
        master_key=master_key,
        server_dsn=server_dsn,
    )
    owner = await asyncpg.connect(url)
    try:
        await owner.execute(
            "INSERT INTO plbench_meta (key, value) VALUES ('store', $1::jsonb)", msgspec.json.encode(store).decode()
        )
        # The store at rest, as after a quiet night: statistics and visibility map up to date, nothing to flush.
        await owner.execute("VACUUM (ANALYZE) events")
        await owner.execute("VACUUM (ANALYZE) streams")
        await owner.execute("CHECKPOINT")
    finally:
        await owner.close()
    return store


def _creations(lines: list[Line], type_: str) -> list[tuple[str, str]]:
    return [(line[2], line[3]) for line in lines if line[3] == type_]


def _small_programme(
    rng: random.Random, counselor: uuid.UUID, participants: int, contacts: int, until: dt.datetime
) -> list[Line]:
    """A small programme for the freshness run: its contacts and enrolled participants."""
    order = itertools.count()
    lines: list[Line] = []
    at = until - 60 * _DAY
    for _ in range(contacts):
        lines.append((at, next(order), f"contact-{_new_id(rng)}", "contact_added", _new_id(rng), {"name": "Contact"}))
    enrolment = {
        "enrolled_on": (at + _DAY).date().isoformat(),
        "counselor_id": str(counselor),
        "profile": {"display_name": "Bench Participant"},
    }
    for _ in range(participants):
        stream = f"participant-{_new_id(rng)}"
        lines.append((at + _DAY, next(order), stream, "participant_enrolled", _new_id(rng), enrolment))
    return lines


async def load_store(server_dsn: str, db_name: str) -> BenchStore:
    """The store a previous run kept (``--keep``), as it described itself."""
    conn = await asyncpg.connect(with_database(server_dsn, db_name))
    try:
        raw = await conn.fetchval("SELECT value::text FROM plbench_meta WHERE key = 'store'")
        if raw is None:
            raise RuntimeError(f"{db_name} holds no bench store (no plbench_meta row)")
        store = msgspec.json.decode(raw, type=BenchStore)
        # Earlier runs' freshness phases appended to the small programme: count what the store holds now.
        store.events = await conn.fetchval("SELECT count(*) FROM events")
        store.small.events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE programme_id = $1", store.small.programme_id
        )
        if not store.password:
            # Kept by an older version of this bench, which did not note the password: give everyone a new one.
            store.password = "bench-" + secrets.token_urlsafe(12)
            await conn.execute("UPDATE users SET password_hash = $1", await hash_password(store.password))
            await conn.execute(
                "UPDATE plbench_meta SET value = $1::jsonb WHERE key = 'store'", msgspec.json.encode(store).decode()
            )
    finally:
        await conn.close()
    store.server_dsn = server_dsn
    return store


async def login(base_url: str, email: str, password: str) -> str:
    """An access token of one bench user."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/auth/login", json={"email": email, "password": password})
        if response.status_code != 200:
            raise RuntimeError(f"login failed: {response.status_code} {response.text}")
        token: str = response.json()["access_token"]
        return token


async def open_or_build(
    args: argparse.Namespace, *, database: str | None = None, validate: bool | None = None, **sizes: Any
) -> BenchStore:
    """A kept store (``database``, by default ``--database``), or a new one of the sizes asked for.

    ``database=""`` asks for a new store whatever ``--database`` says. A new one is named ``plbench_<random>``.
    """
    info = await server_info(args.dsn)
    name = args.database if database is None else database
    if name:
        store = await load_store(args.dsn, name)
    else:
        name = f"plbench_{uuid.uuid4().hex[:8]}"
        await create_database(args.dsn, name)
        console.print(f"database [bold]{name}[/]")
        try:
            participants = sizes.get("participants", args.participants)
            store = await build_store(
                args.dsn,
                name,
                events=sizes.get("events", args.events) or EVENTS_PER_PARTICIPANT * participants,
                participants=participants,
                seed=args.seed,
                writers=args.writers,
                batch=args.append_batch,
                validate=args.validate if validate is None else validate,
            )
        except BaseException:
            if not args.keep:
                await drop_database(args.dsn, name)
            raise
    ACCOUNTING["databases"] = (*ACCOUNTING.get("databases", ()), name)
    STORES_INFO.update(info)
    return store


STORES_INFO: dict[str, str] = {}


def describe_store(store: BenchStore) -> str:
    total = sum(store.types.values()) or 1
    # Most frequent first (jsonb, where a kept store describes itself, keeps no key order).
    ranked = sorted(store.types.items(), key=lambda item: -item[1])
    top = ", ".join(f"{name} {count / total:.0%}" for name, count in ranked[:6])
    return (
        f"{store.events:,} events: a programme of {store.participants:,} participants "
        f"({len(store.big.contacts):,} contacts, {len(store.big.counselor_ids)} counselors; {store.big.events:,} "
        f"events — {top}, …) and a small one ({len(store.small.participants)} participants, "
        f"{store.small.events:,} events); generated with seed {store.seed} in {store.generated_seconds:.0f} s "
        f"(`services.demo.demo_log` stories plus outreach threads, dated up to {store.until.date()}), appended "
        f"{store.how} in {store.appended_seconds:.0f} s, then VACUUM ANALYZE and CHECKPOINT"
    )


# --------------------------------------------------------------------------- processes


def proc_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process, in MB; zeros once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    found = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("VmHWM", 0.0)


def proc_cpu_seconds(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def peoplelinks_command() -> list[str]:
    script = Path(sys.executable).with_name("peoplelinks")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


class Service:
    """A ``peoplelinks`` command (api, worker) in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*peoplelinks_command(), *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def service_env(store: BenchStore, redis_prefix: str, secret: str) -> dict[str, str]:
    return {
        "DATABASE_URL": store.database_url,
        "PEOPLELINKS_SECRET_KEY": secret,
        "PEOPLELINKS_ACCESS_TOKEN_TTL": "43200",  # a 10M store's reads outlast a shorter token
        "PEOPLELINKS_REDIS_PREFIX": redis_prefix,
        "PEOPLELINKS_MASTER_KEY": store.master_key,
        # The bench times reads, one after another, far past a user's report quota (60 a minute): it measures
        # how fast a read is answered, not the quota, which tests/api/test_report_quota.py holds to its word.
        "PEOPLELINKS_REPORT_REQUESTS_PER_MINUTE": "1000000",
        "PEOPLELINKS_REPORT_REQUEST_BURST": "1000000",
    }


def start_api(
    store: BenchStore, redis_prefix: str, secret: str, log_dir: Path, workers: int = 1
) -> tuple[Service, str]:
    port = free_port()
    api = Service(
        "api",
        ["api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        service_env(store, redis_prefix, secret),
        log_dir,
    )
    return api, f"http://127.0.0.1:{port}"


async def wait_ready(api: Service, base_url: str, within_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + within_seconds
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if not api.alive():
                raise RuntimeError(f"the API server exited: {api.log_tail()}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API server did not answer /health within {within_seconds}s: {api.log_tail()}")


async def wait_worker_settled(store: BenchStore, worker: Service, within_seconds: float) -> float:
    """Wait until the worker has kept this month's reports (its start-up job) and caught up; seconds waited."""
    started = time.perf_counter()
    conn = await asyncpg.connect(store.database_url)
    try:
        programmes = await conn.fetchval("SELECT count(*) FROM programmes")
        while time.perf_counter() - started < within_seconds:
            if not worker.alive():
                raise RuntimeError(f"the worker exited: {worker.log_tail()}")
            kept = await conn.fetchval("SELECT count(DISTINCT programme_id) FROM kept_reports")
            _, statuses = await projection_status(conn, list(PROJECTIONS))
            if kept >= programmes and all(s.lag == 0 for s in statuses):
                return time.perf_counter() - started
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    raise RuntimeError(f"the worker did not settle within {within_seconds}s: {worker.log_tail()}")


# --------------------------------------------------------------------------- a. catch-up vs read + decode


@dataclass
class CatchUp:
    events: int
    seconds: float
    read_events: int
    read_seconds: float
    batch: int
    cpu: dict[str, float] = field(default_factory=dict)
    read_cpu: dict[str, float] = field(default_factory=dict)
    per_projection: dict[str, tuple[int, float]] = field(default_factory=dict)
    horizon_waits: int = 0
    """Times catch_up found nothing below the horizon before the store's last event (another session's
    transaction held it): the catch-up waited, and its rate includes the wait."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def read_rate(self) -> float:
        return self.read_events / self.read_seconds if self.read_seconds else 0.0


async def reset_projections(store: BenchStore) -> None:
    """Empty every projection's table and forget its checkpoint (as the owner), so it starts from position 0."""
    conn = await asyncpg.connect(store.database_url)
    try:
        for projection, _ in PROJECTIONS.values():
            for table in projection.tables:
                await conn.execute(f'TRUNCATE "{table}"')
        await conn.execute("DELETE FROM projection_checkpoints")
        await conn.execute("DELETE FROM kept_reports")
    finally:
        await conn.close()


def _cores(cpu: dict[str, float], seconds: float) -> str:
    if not cpu or seconds <= 0:
        return ""
    names = {"bench": "bench", "server": "API", "worker": "worker", "postgres": "PG", "other": "other"}
    return " · ".join(
        f"{label} {cpu[key] / seconds:.2f}"
        for key, label in names.items()
        if key in cpu and (key in ("bench", "postgres", "other") or cpu[key] > 0)
    )


async def measure_catchup(store: BenchStore, batch: int, profile_dir: Path | None) -> CatchUp:
    """Read + decode the whole store, then catch every projection up from position 0.

    In this process, with its garbage collector set as ``peoplelinks worker`` sets the worker's (``services.heap``).
    """
    heap.settle()
    await reset_projections(store)
    pool = await create_worker_pool(settings_for(store.database_url), min_size=1, max_size=2)
    events_store = EventStore(pool)
    try:
        with make_progress() as progress:
            task = progress.add_task("read_all + decode_data", total=store.events)
            await asyncio.to_thread(settle, "read")
            with profiled(profile_dir, "read_decode", os.getpid()):
                before = cpu_snapshot(None)
                started = time.perf_counter()
                cursor, read = Cursor(), 0
                while True:
                    events = await events_store.read_all(cursor, limit=batch)
                    if not events:
                        break
                    for recorded in events:
                        decode_data(recorded.type, recorded.data)
                    cursor = Cursor(events[-1].tx_id, events[-1].global_position)
                    read += len(events)
                    progress.advance(task, len(events))
                read_seconds = time.perf_counter() - started
                read_cpu = cpu_delta(before, cpu_snapshot(None))
            result = CatchUp(
                events=0, seconds=0.0, read_events=read, read_seconds=read_seconds, batch=batch, read_cpu=read_cpu
            )
            await asyncio.to_thread(settle, "catch-up")
            with profiled(profile_dir, "catchup", os.getpid()):
                before = cpu_snapshot(None)
                started = time.perf_counter()
                for name, (projection, table) in PROJECTIONS.items():
                    task = progress.add_task(f"catch_up({name})", total=store.events)

                    async def follow(name: str = name, task: Any = task) -> None:
                        while True:
                            checkpoint = await read_checkpoint(pool, name)
                            progress.update(task, completed=checkpoint.events)
                            await asyncio.sleep(0.5)

                    watcher = asyncio.create_task(follow())
                    one_started = time.perf_counter()
                    try:
                        applied = await catch_up(events_store, projection, table=table, batch_size=batch)
                        # catch_up returns when it finds nothing below the horizon for a second: on a shared
                        # server another session's long transaction can hold the horizon below our events.
                        # Go on (the wait is in the figure) until every event of the store is applied.
                        held_since = time.perf_counter()
                        while applied < store.events:
                            more = await catch_up(events_store, projection, table=table, batch_size=batch)
                            applied += more
                            if more:
                                held_since = time.perf_counter()
                                continue
                            result.horizon_waits += 1
                            if time.perf_counter() - held_since > 600:
                                raise RuntimeError(f"{name}: {applied:,} of {store.events:,} events after 600 s")
                            await asyncio.sleep(0.05)
                    finally:
                        watcher.cancel()
                    progress.update(task, completed=applied)
                    result.per_projection[name] = (applied, time.perf_counter() - one_started)
                    result.events += applied
                result.seconds = time.perf_counter() - started
                result.cpu = cpu_delta(before, cpu_snapshot(None))
    finally:
        await pool.close()
    return result


# --------------------------------------------------------------------------- b. freshness under load


@dataclass
class Freshness:
    target_rate: float
    clients: int
    seconds: float
    appended: int
    errors: int
    samples: list[float]
    unseen: int
    polls: int
    poll_ms: list[float]
    append_ms: list[float]
    cpu: dict[str, float] = field(default_factory=dict)
    horizon_ms: float = 0.0
    worker_settle_seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.appended / self.seconds if self.seconds else 0.0


def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def measure_freshness(
    store: BenchStore,
    base_url: str,
    api: Service,
    worker: Service,
    *,
    rate: float,
    clients: int,
    seconds: float,
    sample_every: int,
    in_flight: int,
    profile_dir: Path | None,
) -> Freshness:
    """Outreach at ``rate`` events/s into the small programme; time until the dashboard shows each sampled append."""
    token = await login(base_url, store.small.admin_email, store.password)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    participants, contacts = store.small.participants, store.small.contacts
    owned = [participants[i::clients] for i in range(clients)]
    total = int(rate * seconds)
    acks: list[tuple[float, int]] = []  # (time of the 201, position) of the sampled appends
    append_ms: list[float] = []
    observations: list[tuple[float, int]] = []  # (time the dashboard answered, its global_position)
    poll_ms: list[float] = []
    errors = 0
    failures: dict[str, int] = {}
    stop_polling = asyncio.Event()
    seen_last = asyncio.Event()
    wanted = {"last": math.inf}
    horizon = {"max_ms": 0.0}
    # Dated noon of last month's last day: recorded late, so that the dashboard's default period (this month)
    # is not swollen by the synthetic burst. Its global_position covers every event whatever its date.
    this_month = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    occurred = (this_month - dt.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent = itertools.count()

    async def client(index: int, start: float, progress: Progress, task: Any) -> None:
        """Each append is sent at its time on the schedule, whether or not the earlier ones answered.

        At most ``in_flight`` requests of a client are out at once: when the server falls behind, the schedule
        slips (the achieved rate says by how much) instead of requests piling up in the client.
        """
        nonlocal errors
        mine = owned[index]
        slots = asyncio.Semaphore(in_flight)
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30, limits=limits) as http:

            async def append(k: int) -> None:
                nonlocal errors
                body = msgspec.json.encode(
                    {
                        "type": "outreach_sent",
                        "occurred_at": occurred,
                        "event_id": str(uuid.uuid4()),
                        "data": {
                            "outreach_id": str(uuid.uuid4()),
                            "contact_id": str(contacts[k % len(contacts)]),
                            "channel": "email",
                            "purpose": "introduction",
                        },
                    }
                )
                posted = time.perf_counter()
                try:
                    response = await http.post(
                        f"/v1/participants/{mine[k // clients % len(mine)]}/events", content=body
                    )
                except httpx.TransportError as e:
                    errors += 1
                    failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
                    if errors > max(20, total // 100):
                        raise
                    return
                finally:
                    slots.release()
                acked = time.perf_counter()
                if response.status_code != 201:
                    errors += 1
                    failures[str(response.status_code)] = failures.get(str(response.status_code), 0) + 1
                    if errors > max(20, total // 100):
                        raise RuntimeError(f"appends failing: {response.status_code} {response.text[:300]}")
                    return
                append_ms.append((acked - posted) * 1000)
                if next(sent) % sample_every == 0:
                    acks.append((acked, int(response.json()["global_position"])))
                progress.advance(task)

            pending: set[asyncio.Task[None]] = set()
            failed: list[BaseException] = []

            def finished(done: asyncio.Task[None]) -> None:
                pending.discard(done)
                if not done.cancelled() and done.exception() is not None:
                    failed.append(done.exception())  # type: ignore[arg-type]

            for k in range(index, total, clients):
                delay = start + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await slots.acquire()
                if failed:
                    raise failed[0]
                sending = asyncio.create_task(append(k))
                pending.add(sending)
                sending.add_done_callback(finished)
            await asyncio.gather(*pending, return_exceptions=True)
            if failed:
                raise failed[0]

    async def poller() -> None:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
            while not stop_polling.is_set():
                asked = time.perf_counter()
                response = await http.get("/v1/dashboards/response-rates")
                answered = time.perf_counter()
                if response.status_code != 200:
                    raise RuntimeError(f"dashboard answered {response.status_code}: {response.text[:300]}")
                position = int(response.json()["global_position"])
                observations.append((answered, position))
                poll_ms.append((answered - asked) * 1000)
                if position >= wanted["last"]:
                    seen_last.set()

    async def horizon_sampler() -> None:
        """The oldest transaction open anywhere in the cluster: it holds every gap-free reader back."""
        conn = await asyncpg.connect(store.database_url)
        try:
            while not stop_polling.is_set():
                age = await conn.fetchval(
                    """SELECT coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8 * 1000
                       FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"""
                )
                horizon["max_ms"] = max(horizon["max_ms"], age)
                await asyncio.sleep(0.05)
        finally:
            await conn.close()

    await asyncio.to_thread(settle, "freshness")
    polling = asyncio.create_task(poller())
    sampling = asyncio.create_task(horizon_sampler())
    await asyncio.sleep(1.0)  # the poller's first answers, before the load
    observations.clear()
    poll_ms.clear()
    with make_progress() as progress, profiled(profile_dir, "freshness", api.pid):
        task = progress.add_task(f"outreach at {rate:,.0f}/s", total=total)
        before = cpu_snapshot(api.pid)
        worker_before = proc_cpu_seconds(worker.pid)
        start = time.perf_counter() + 0.1
        try:
            await asyncio.gather(*(client(i, start, progress, task) for i in range(clients)))
        except BaseException:
            stop_polling.set()
            raise
        load_seconds = time.perf_counter() - start
        cpu = cpu_delta(before, cpu_snapshot(api.pid))
        cpu["worker"] = proc_cpu_seconds(worker.pid) - worker_before
        cpu["other"] = max(0.0, cpu["other"] - cpu["worker"])
        # Until the last sampled append is seen (or 10 s).
        wanted["last"] = max((p for _, p in acks), default=0)
        if observations and observations[-1][1] >= wanted["last"]:
            seen_last.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(seen_last.wait(), timeout=10)
    stop_polling.set()
    await polling
    await sampling
    times = [t for t, _ in observations]
    samples, unseen = [], 0
    for acked, position in acks:
        i = bisect.bisect_left(times, acked)
        while i < len(observations) and observations[i][1] < position:
            i += 1
        if i == len(observations):
            unseen += 1
            continue
        samples.append((observations[i][0] - acked) * 1000)
    return Freshness(
        target_rate=rate,
        clients=clients,
        seconds=load_seconds,
        appended=len(append_ms),
        errors=errors,
        samples=samples,
        unseen=unseen,
        polls=len(observations),
        poll_ms=poll_ms,
        append_ms=append_ms,
        cpu=cpu,
        horizon_ms=horizon["max_ms"],
        failures=failures,
    )


# --------------------------------------------------------------------------- c. memory of a rebuild


@dataclass
class Memory:
    label: str
    events: int
    rebuild_seconds: float
    rebuild_peak_mb: float
    worker_before_mb: float
    worker_max_mb: float
    worker_peak_mb: float
    worker_startup_seconds: float
    rebuild_exit: int


def measure_rebuild(store: BenchStore, worker: Service, log_dir: Path, label: str) -> Memory:
    """``peoplelinks rebuild`` of every projection while the worker runs: its peak RSS, and the worker's.

    The rebuild's peak is its VmHWM, read from /proc every 50 ms until it exits (the high-water mark only
    grows, so the last reading is the peak). Not ``ru_maxrss`` from ``wait4``: Linux carries the forking
    process's own high-water mark over an exec into it, so it would report at least the bench's size.
    """
    worker_before, _ = proc_memory_mb(worker.pid)
    log_path = log_dir / f"rebuild-{store.db_name}.log"
    env = {**os.environ, "DATABASE_URL": store.database_url, "COLUMNS": "120"}
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*peoplelinks_command(), "rebuild"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
        worker_max, peak = worker_before, 0.0
        with make_progress() as progress:
            task = progress.add_task(f"peoplelinks rebuild ({label})", total=None)
            while process.poll() is None:
                peak = max(peak, proc_memory_mb(process.pid)[1])
                rss, _ = proc_memory_mb(worker.pid)
                worker_max = max(worker_max, rss)
                progress.update(
                    task, description=f"peoplelinks rebuild ({label}): {peak:,.0f} MB; worker {rss:,.0f} MB"
                )
                time.sleep(0.05)
        seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"peoplelinks rebuild failed ({process.returncode}): {log_path.read_text()[-2000:]}")
    _, worker_peak = proc_memory_mb(worker.pid)
    return Memory(
        label=label,
        events=store.events,
        rebuild_seconds=seconds,
        rebuild_peak_mb=peak,
        worker_before_mb=worker_before,
        worker_max_mb=worker_max,
        worker_peak_mb=worker_peak,
        worker_startup_seconds=0.0,
        rebuild_exit=process.returncode,
    )


# --------------------------------------------------------------------------- orchestration


@dataclass
class Run:
    store: BenchStore | None = None
    catchup: CatchUp | None = None
    freshness: Freshness | None = None
    memory: list[Memory] = field(default_factory=list)
    small_store: BenchStore | None = None


async def catch_up_all(store: BenchStore) -> None:
    """Bring every projection level with the store (untimed), as the worker would."""
    pool = await create_worker_pool(settings_for(store.database_url), min_size=1, max_size=2)
    try:
        for projection, table in PROJECTIONS.values():
            await catch_up(EventStore(pool), projection, table=table)
    finally:
        await pool.close()


async def forget_kept_reports(store: BenchStore) -> None:
    """As the owner: no monthly report kept yet, so that a worker starting does its start-up job in full."""
    conn = await asyncpg.connect(store.database_url)
    try:
        await conn.execute("DELETE FROM kept_reports")
    finally:
        await conn.close()


def with_worker(
    store: BenchStore, redis_prefix: str, secret: str, log_dir: Path, settle_seconds: float
) -> tuple[Service, float]:
    run_async(forget_kept_reports(store))
    worker = Service(f"worker-{store.db_name}", ["worker"], service_env(store, redis_prefix, secret), log_dir)
    try:
        waited = run_async(wait_worker_settled(store, worker, settle_seconds))
    except BaseException:
        console.print(f"[red]worker log:[/]\n{worker.log_tail()}")
        worker.stop()
        raise
    return worker, waited


def run_phases(args: argparse.Namespace, run: Run, log_dir: Path, redis_prefix: str) -> None:
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    store = run.store
    assert store is not None
    if "catchup" in phases:
        run.catchup = run_async(measure_catchup(store, args.batch, args.profile_dir))
        console.print(f"catch-up {run.catchup.rate:,.0f} events/s; read + decode {run.catchup.read_rate:,.0f} events/s")
    else:
        run_async(catch_up_all(store))
    if not phases & {"freshness", "memory"}:
        return
    secret = secrets.token_urlsafe(48)
    started = time.perf_counter()
    worker, _ = with_worker(store, redis_prefix, secret, log_dir, args.settle_timeout)
    startup = time.perf_counter() - started
    _, worker_startup_peak = proc_memory_mb(worker.pid)
    console.print(f"worker settled in {startup:.1f} s (peak RSS so far {worker_startup_peak:,.0f} MB)")
    try:
        if "freshness" in phases:
            api, base_url = start_api(store, redis_prefix, secret, log_dir, args.api_workers)
            try:
                run_async(wait_ready(api, base_url))
                run.freshness = run_async(
                    measure_freshness(
                        store,
                        base_url,
                        api,
                        worker,
                        rate=args.fresh_rate,
                        clients=args.fresh_clients,
                        seconds=args.fresh_seconds,
                        sample_every=args.fresh_sample,
                        in_flight=args.fresh_in_flight,
                        profile_dir=args.profile_dir,
                    )
                )
                run.freshness.worker_settle_seconds = startup
            except BaseException:
                console.print(f"[red]API log:[/]\n{api.log_tail()}\n[red]worker log:[/]\n{worker.log_tail()}")
                raise
            finally:
                api.stop()
        if "memory" in phases:
            memory = measure_rebuild(store, worker, log_dir, "big store")
            memory.worker_startup_seconds = startup
            run.memory.append(memory)
    finally:
        worker.stop()
    if "memory" in phases and args.small_events > 0:
        small = run_async(
            open_or_build(
                args,
                database=args.small_database or "",
                events=args.small_events,
                participants=args.small_participants,
                validate=True,  # small enough to go through every append rule: the generator's proof
            )
        )
        run.small_store = small
        try:
            run_async(catch_up_all(small))
            started = time.perf_counter()
            worker, _ = with_worker(small, redis_prefix, secret, log_dir, args.settle_timeout)
            startup = time.perf_counter() - started
            try:
                memory = measure_rebuild(small, worker, log_dir, "small store")
                memory.worker_startup_seconds = startup
                run.memory.append(memory)
            finally:
                worker.stop()
        finally:
            if not args.keep and not args.small_database:
                run_async(drop_database(args.dsn, small.db_name))


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def aims(run: Run) -> list[tuple[str, str, str, str, str]]:
    """(figure, measured, aim, verdict, where the time goes) for every aim the run allows judging."""
    rows: list[tuple[str, str, str, str, str]] = []
    c = run.catchup
    if c is not None:
        cores = _cores(c.cpu, c.seconds)
        rows.append(
            (
                "catch-up from position 0 (`catch_up`, all projections)",
                f"{c.rate:,.0f} events/s"
                + (f" ({c.horizon_waits} waits for another session's transaction)" if c.horizon_waits else ""),
                f"≥ {AIM_CATCHUP_RATE:,} events/s",
                verdict(c.rate >= AIM_CATCHUP_RATE),
                f"CPU cores busy: {cores}",
            )
        )
        ratio = c.read_rate / c.rate if c.rate else math.inf
        rows.append(
            (
                "catch-up vs read + decode of the same events",
                f"{ratio:.2f}× slower ({c.rate:,.0f} vs {c.read_rate:,.0f} events/s)",
                f"within {AIM_CATCHUP_RATIO:.0f}×",
                verdict(ratio <= AIM_CATCHUP_RATIO),
                f"read + decode: {_cores(c.read_cpu, c.read_seconds)}",
            )
        )
    f = run.freshness
    if f is not None:
        p95 = pct(f.samples, 0.95)
        rows.append(
            (
                f"freshness under {f.target_rate:,.0f} appends/s (201 → dashboard at that position), p95",
                f"{_fmt(p95)} ms (p50 {_fmt(pct(f.samples, 0.5))}, max {_fmt(max(f.samples, default=None))}; "
                f"{len(f.samples):,} samples, {f.unseen} never seen)",
                f"p95 < {AIM_FRESH_P95_MS:.0f} ms",
                verdict(p95 is not None and p95 < AIM_FRESH_P95_MS and f.unseen == 0),
                f"achieved {f.rate:,.0f} appends/s; CPU cores busy: {_cores(f.cpu, f.seconds)}; "
                f"dashboard poll {_fmt(pct(f.poll_ms, 0.5))} ms p50; oldest foreign transaction seen "
                f"{f.horizon_ms:,.0f} ms",
            )
        )
        if f.rate < 0.95 * f.target_rate:
            rows.append(
                (
                    "append rate sustained during the freshness run",
                    f"{f.rate:,.0f} appends/s (POST p50 {_fmt(pct(f.append_ms, 0.5))} ms, "
                    f"p95 {_fmt(pct(f.append_ms, 0.95))} ms)",
                    f"{f.target_rate:,.0f} appends/s",
                    verdict(False),
                    f"CPU cores busy: {_cores(f.cpu, f.seconds)}",
                )
            )
    for m in run.memory:
        rows.append(
            (
                f"`peoplelinks rebuild` peak RSS, {m.label} ({m.events:,} events)",
                f"{m.rebuild_peak_mb:,.0f} MB ({m.rebuild_seconds:.0f} s, "
                f"{m.events / m.rebuild_seconds:,.0f} events/s)",
                f"< {AIM_MEMORY_MB:.0f} MB",
                verdict(m.rebuild_peak_mb < AIM_MEMORY_MB),
                "VmHWM of the process, read every 50 ms",
            )
        )
        rows.append(
            (
                f"worker RSS during the rebuild, {m.label}",
                f"{m.worker_max_mb:,.0f} MB (before it {m.worker_before_mb:,.0f} MB)",
                f"< {AIM_MEMORY_MB:.0f} MB",
                verdict(m.worker_max_mb < AIM_MEMORY_MB),
                "VmRSS sampled every 50 ms",
            )
        )
        rows.append(
            (
                f"worker peak RSS since it started, {m.label}",
                f"{m.worker_peak_mb:,.0f} MB (start-up until settled: {m.worker_startup_seconds:.0f} s)",
                f"< {AIM_MEMORY_MB:.0f} MB",
                verdict(m.worker_peak_mb < AIM_MEMORY_MB),
                "VmHWM: includes the start-up job that keeps the monthly reports",
            )
        )
    return rows


def section(args: argparse.Namespace, run: Run, command: str, notes: str) -> str:
    info = STORES_INFO
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Measured {when} with `{command}`, {code_under_test()}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; the bench, the API server, the worker and PostgreSQL share the cores.",
        f"- PostgreSQL {info.get('version', '?')}: fsync={info.get('fsync', '?')}, "
        f"synchronous_commit={info.get('synchronous_commit', '?')}, "
        f"wal_sync_method={info.get('wal_sync_method', '?')}, full_page_writes={info.get('full_page_writes', '?')}, "
        f"commit_delay={info.get('commit_delay', '?')}, shared_buffers={info.get('shared_buffers', '?')}, "
        f"work_mem={info.get('work_mem', '?')} (read from the server; the bench changes nothing).",
    ]
    if run.store is not None:
        lines.append(f"- Store: {describe_store(run.store)}.")
    lines.append(
        "- CPU cores busy: CPU seconds used during the timed phase over its wall time, from /proc: the bench, "
        "the API server, the worker, our database's PostgreSQL backends, and `other`, which includes "
        "PostgreSQL's parallel query workers (their process titles name no database) besides other work on "
        "the machine."
    )
    c = run.catchup
    if c is not None:
        per = ", ".join(f"{name} {n:,} events in {s:.1f} s" for name, (n, s) in c.per_projection.items())
        lines.append(
            f"- Catch-up: `projections.runner.catch_up` in the bench process with the worker's pool role, "
            f"{c.batch:,} events a batch (one transaction each: lock, read, apply, checkpoint), every projection "
            f"of the registry from an empty table ({per}). Read + decode: `EventStore.read_all` in batches of "
            f"{c.batch:,} and `domain.events.decode_data` of each event, nothing written."
        )
    f = run.freshness
    if f is not None:
        lines.append(
            f"- Freshness: `peoplelinks api --workers {args.api_workers}` and `peoplelinks worker` as subprocesses "
            f"(Redis prefix of their own); {f.clients} httpx clients (up to {args.fresh_in_flight} requests in "
            f"flight each) POST one `outreach_sent` a request to `/v1/participants/{{id}}/events` of the small "
            f"programme on a fixed schedule of {f.target_rate:,.0f}/s in all for {args.fresh_seconds:.0f} s "
            "(dated last month's last day: recorded late, so the dashboard's default period, this month, is not "
            f"swollen by the burst); every {args.fresh_sample}th append is "
            f"timed from its 201 to the first answer of `GET /v1/dashboards/response-rates` (one client asking "
            f"back to back, {f.polls:,} answers, p50 {_fmt(pct(f.poll_ms, 0.5))} ms each: the resolution) whose "
            f"`global_position` is at least the append's. The worker had settled first (caught up, monthly reports "
            f"kept: {f.worker_settle_seconds:.0f} s after its start). {f.appended:,} appends, {f.errors} errors"
            + (f" ({', '.join(f'{k}: {v}' for k, v in f.failures.items())})" if f.failures else "")
            + "."
        )
    if run.memory:
        lines.append(
            "- Memory: `peoplelinks rebuild` (every projection, batches of 5,000) as a subprocess while "
            "`peoplelinks worker` runs; the rebuild's peak RSS is its VmHWM (read from /proc every 50 ms), the "
            "worker's RSS is sampled every 50 ms too, and its VmHWM is its peak since it started."
        )
    lines += [
        "",
        "| figure | measured | aim | verdict | where the time (or memory) goes |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c_} | {d} | {e} |" for a, b, c_, d, e in aims(run)],
    ]
    if f is not None:
        lines += [
            "",
            "| freshness | samples | p50 ms | p95 ms | max ms | appends/s achieved | POST p50 ms | POST p95 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| 201 → dashboard | {len(f.samples):,} | {_fmt(pct(f.samples, 0.5))} | {_fmt(pct(f.samples, 0.95))} "
            f"| {_fmt(max(f.samples, default=None))} | {f.rate:,.0f} | {_fmt(pct(f.append_ms, 0.5))} "
            f"| {_fmt(pct(f.append_ms, 0.95))} |",
        ]
    if run.memory:
        lines += [
            "",
            "| store | events | rebuild s | rebuild events/s | rebuild peak RSS MB | worker RSS before MB "
            "| worker RSS max during MB | worker VmHWM MB | worker start-up s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *[
                f"| {m.label} | {m.events:,} | {m.rebuild_seconds:.1f} | {m.events / m.rebuild_seconds:,.0f} "
                f"| {m.rebuild_peak_mb:,.0f} | {m.worker_before_mb:,.0f} | {m.worker_max_mb:,.0f} "
                f"| {m.worker_peak_mb:,.0f} | {m.worker_startup_seconds:.0f} |"
                for m in run.memory
            ],
        ]
    lines.append("")
    if notes:
        lines += [notes, ""]
    return "\n".join(lines)


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace (or add) one ``## `` section of ``path``, read just before writing; other sections are kept."""
    old = path.read_text() if path.exists() else ""
    if not old:
        path.write_text("# Benchmark results\n\n" + text)
        return
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        path.write_text(old.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    path.write_text("".join(lines[:start]) + text + ("\n" if end < len(lines) else "") + "".join(lines[end:]))


def old_notes(path: Path, heading: str) -> str:
    """The hand-written notes block of one section, carried over to the rewritten section."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find(heading)
    if start < 0:
        return ""
    following = text.find("\n## ", start + len(heading))
    end_of_section = following if following >= 0 else len(text)
    begin = text.find(NOTES_START, start, end_of_section)
    end = text.find(NOTES_END, start, end_of_section)
    return text[begin : end + len(NOTES_END)] if 0 <= begin < end else ""


def print_aims(title: str, rows: list[tuple[str, str, str, str, str]]) -> None:
    table = Table(title=title)
    for column in ("figure", "measured", "aim", "verdict", "where"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell.replace("**", "") for cell in row))
    console.print(table)


# --------------------------------------------------------------------------- command line


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which store to use or make (shared with bench/reads.py)."""
    parser.add_argument(
        "--dsn",
        default=os.environ.get("PEOPLELINKS_BENCH_DSN", "postgresql://postgres@localhost:5432/postgres"),
        help="PostgreSQL server to create the bench database on, as a user that may create databases "
        "(env PEOPLELINKS_BENCH_DSN)",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="reuse this bench database (one kept by an earlier run with --keep) instead of generating a store",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database(s) instead of dropping them")
    parser.add_argument(
        "--events",
        type=int,
        default=None,
        help=f"events of the big programme's log (default {EVENTS_PER_PARTICIPANT} a participant: 1,000,000 for "
        "5,000, 10,000,000 for 50,000)",
    )
    parser.add_argument("--participants", type=int, default=5_000, help="participants of the big programme")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated log")
    parser.add_argument("--writers", type=int, default=4, help="connections appending the generated log")
    parser.add_argument("--append-batch", type=int, default=2_000, help="events a transaction while generating")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="append the generated log through Recorder.record (every append rule checked; slow) "
        "instead of EventStore.append (default with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke check of every phase (< 1 minute)")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"Markdown file to write the section to (default {DEFAULT_RESULTS.relative_to(REPO)}; "
        "not written by --quick unless given)",
    )
    parser.add_argument("--no-results", action="store_true", help="print only, write no results file")
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="sample each timed phase with py-spy into this directory"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each timed phase, wait up to this many seconds for other processes to go under 0.3 cores",
    )


def add_phase_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the catch-up, freshness and memory phases (shared with bench/reads.py, which runs them too)."""
    parser.add_argument("--batch", type=int, default=2_000, help="events a batch of catch_up (the worker's default)")
    parser.add_argument("--fresh-rate", type=float, default=500.0, help="appends a second during the freshness run")
    parser.add_argument("--fresh-clients", type=int, default=4, help="concurrent HTTP clients appending")
    parser.add_argument("--fresh-seconds", type=float, default=30.0, help="length of the freshness run")
    parser.add_argument("--fresh-sample", type=int, default=10, help="time every n-th append's freshness")
    parser.add_argument(
        "--fresh-in-flight", type=int, default=8, help="connections (requests in flight at most) of each client"
    )
    parser.add_argument("--api-workers", type=int, default=1, help="`peoplelinks api --workers`")
    parser.add_argument(
        "--small-events",
        type=int,
        default=100_000,
        help="events of the smaller store the rebuild also runs on (0: none)",
    )
    parser.add_argument("--small-participants", type=int, default=500, help="participants of the smaller store")
    parser.add_argument("--small-database", default=None, help="reuse this kept bench database as the smaller store")
    parser.add_argument(
        "--settle-timeout", type=float, default=600.0, help="seconds to wait for a started worker to settle"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.projections",
        description="Projection catch-up from position 0 against read + decode, freshness of the dashboard under "
        "steady HTTP appends, and the memory of `peoplelinks rebuild` and of the worker, over a generated store.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_store_arguments(parser)
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {', '.join(PHASES)}")
    add_phase_arguments(parser)
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in (
            ("events", 20_000),
            ("participants", 100),
            ("fresh_rate", 100.0),
            ("fresh_seconds", 4.0),
            ("fresh_sample", 5),
            ("small_events", 5_000),
            ("small_participants", 25),
            ("quiet_wait", 0.0),
        ):
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
        args.validate = True
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    QUIET["limit_seconds"] = args.quiet_wait
    unknown = {p.strip() for p in args.only.split(",") if p.strip()} - set(PHASES)
    if unknown:
        console.print(f"[red]unknown phases: {', '.join(sorted(unknown))}[/]")
        return 2
    suffix = uuid.uuid4().hex[:8]
    redis_prefix = f"plbench:{suffix}"
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"plbench-{suffix}"
    log_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"logs in {log_dir}")
    run = Run()
    started = time.monotonic()
    try:
        run.store = run_async(open_or_build(args))
        run_phases(args, run, log_dir, redis_prefix)
    finally:
        if run.store is not None and not args.database:
            if args.keep:
                console.print(f"kept database [bold]{run.store.db_name}[/] (reuse it with --database)")
            else:
                run_async(drop_database(args.dsn, run.store.db_name))
        if run.small_store is not None and args.keep and not args.small_database:
            console.print(f"kept the smaller store [bold]{run.small_store.db_name}[/] (--small-database)")
        run_async(drop_redis_keys(SimpleNamespace(redis_prefix=redis_prefix)))
    console.print(f"whole run {time.monotonic() - started:.0f} s")
    rows = aims(run)
    print_aims("Projections", rows)
    command = "python -m bench.projections " + " ".join(sys.argv[1:] if argv is None else argv)
    results_path = args.results
    if results_path is None and not args.quick:
        results_path = DEFAULT_RESULTS
    if results_path is not None and not args.no_results:
        text = section(args, run, command.strip(), old_notes(results_path, SECTION))
        write_section(results_path, SECTION, text)
        console.print(f"wrote {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
