"""The worker under failure: killed with SIGKILL mid-work (mid-wake-up too), and Redis gone for half a minute."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from domain.events import decode_data
from domain.streams import stream_id_of
from infra.event_store import Cursor, EventStore, Metadata
from infra.queue import Waker
from infra.settings import Settings
from projections import read_models
from projections.registry import PROJECTIONS
from projections.runner import projection_status
from services.api.app import create_app
from services.recording import IncomingEvent, Recorder
from tests.generators import programme_log
from tests.integration.test_read_models import rows_of, scratch_tables
from tests.support import Api, Tenant, incoming, subject_keys

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
EVERY_PROJECTION = tuple(PROJECTIONS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PEOPLELINKS_REDIS_PREFIX": settings.redis_prefix,
        "PEOPLELINKS_SECRET_KEY": settings.secret_key,
        "PEOPLELINKS_WORKER_SWEEP_SECONDS": str(settings.worker_sweep_seconds),
    }


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        cwd=ROOT,
        env=_worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_caught_up(pool: asyncpg.Pool, within: float = 60, names: tuple[str, ...] = (read_models.NAME,)) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        head, statuses = await projection_status(pool, names)
        if head > 0 and all(s.lag == 0 and s.checkpoint == head for s in statuses):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"projections did not catch up: {await projection_status(pool, names)}")


async def _from_scratch_equals_live(
    worker_pool: asyncpg.Pool, owner: asyncpg.Connection, programme_id: uuid.UUID
) -> None:
    store = EventStore(worker_pool)
    scratch = await scratch_tables(owner, "scratch")
    cursor = Cursor()
    async with worker_pool.acquire() as conn, conn.transaction():
        while batch := await store.read_all(cursor, limit=5000, conn=conn):
            await read_models.ReadModelsProjection().apply(conn, batch, scratch)
            cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    live = await rows_of(worker_pool, read_models.LIVE_PREFIX, programme_id)
    assert all(live[table] for table in ("rm_participants", "rm_outreach", "rm_responses"))
    assert live == await rows_of(worker_pool, scratch, programme_id)


async def _append_logs(
    pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, programmes: int, seed: int
) -> None:
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    rng = random.Random(seed)
    counselor = str(tenant.counselor_id)
    for _ in range(programmes):
        log = programme_log(rng, [counselor], participants=20, actions=15)
        for start in range(0, len(log), 500):
            await recorder.record(
                tenant.programme_id,
                [incoming(line) for line in log[start : start + 500]],
                Metadata(programme_id=tenant.programme_id),
            )


async def test_a_worker_killed_mid_work_resumes_and_matches_a_clean_rebuild(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, settings: Settings
) -> None:
    await _append_logs(pool, owner, tenant, programmes=12, seed=7)
    worker = _start_worker(settings)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            applied = await pool.fetchval("SELECT events FROM projection_checkpoints WHERE name = $1", read_models.NAME)
            if applied:
                break
            await asyncio.sleep(0.005)
        worker.kill()  # SIGKILL: no clean-up, whatever it was doing
        worker.wait()
        await _append_logs(pool, owner, tenant, programmes=3, seed=8)
    finally:
        _stop(worker)
    worker = _start_worker(settings)
    try:
        await _wait_caught_up(worker_pool)
    finally:
        _stop(worker)
    await _from_scratch_equals_live(worker_pool, owner, tenant.programme_id)


def _with(settings: Settings, **changes: object) -> Settings:
    return Settings(**{**{f: getattr(settings, f) for f in settings.__struct_fields__}, **changes})


async def _checkpoint_events(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            "SELECT coalesce(max(events), 0) FROM projection_checkpoints WHERE name = $1", read_models.NAME
        )
    )


async def _projected_to(pool: asyncpg.Pool, position: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        _, statuses = await projection_status(pool, [read_models.NAME])
        if all(s.checkpoint >= position for s in statuses):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_worker_killed_during_a_wake_up_leaves_the_next_wake_ups_working(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, settings: Settings
) -> None:
    # A sweep every ten minutes: within this test only a wake-up can move the projections after start-up.
    settings = _with(settings, worker_sweep_seconds=600.0)
    waker = Waker(settings)
    redis = Redis.from_url(settings.redis_url)
    await _append_logs(pool, owner, tenant, programmes=1, seed=11)
    worker = _start_worker(settings)
    try:
        await _wait_caught_up(worker_pool, names=EVERY_PROJECTION)  # by the sweep the worker makes as it starts
        await asyncio.sleep(1.0)  # which has ended: the sweep sleeps now
        await _append_logs(pool, owner, tenant, programmes=12, seed=12)
        before = await _checkpoint_events(worker_pool)
        await waker.wake()
        deadline = time.monotonic() + 30
        while await _checkpoint_events(worker_pool) == before:  # the wake-up job is under way
            assert time.monotonic() < deadline, "the wake-up job did not start"
            await asyncio.sleep(0.005)
        worker.kill()  # SIGKILL in the middle of the job
        worker.wait()
        # arq keeps a dead job "in progress" for its timeout (minutes): the job was caught running.
        assert await redis.keys(f"arq:in-progress:{settings.redis_prefix}:*")

        worker = _start_worker(settings)
        # Its start-up sweep finishes what the killed job left (the job was killed before the last projection).
        await _wait_caught_up(worker_pool, names=EVERY_PROJECTION)
        await asyncio.sleep(1.0)
        recorder = Recorder(EventStore(pool), keys=subject_keys(), after_commit=waker.wake)
        employer = uuid.uuid4()
        outcome = await recorder.record(
            tenant.programme_id,
            [
                IncomingEvent(
                    stream_id=stream_id_of("employer", employer),
                    event_id=uuid.uuid4(),
                    occurred_at=dt.datetime.now(dt.UTC),
                    event=decode_data("employer_added", {"name": "Woken Ltd"}),
                )
            ],
            Metadata(programme_id=tenant.programme_id),
        )
        # Projected within seconds, ten minutes before the next sweep: by a wake-up the dead job did not block.
        assert await _projected_to(worker_pool, outcome.results[0].global_position, within=5.0)
    finally:
        _stop(worker)
        await waker.close()
        await redis.aclose()


@pytest.fixture
def private_redis() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis of this test's own, which the test may stop and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (scripts/services.sh installs it)")
    port = _free_port()
    processes = [_start_redis(binary, port)]
    yield port, processes
    for process in processes:
        process.kill()
        process.wait()


def _start_redis(binary: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    raise AssertionError("redis-server did not start")


@pytest.fixture
async def redis_settings(
    settings: Settings, private_redis: tuple[int, list[subprocess.Popen[bytes]]]
) -> AsyncIterator[Settings]:
    port, _ = private_redis
    yield _with(settings, redis_url=f"redis://127.0.0.1:{port}/0")


async def test_appends_during_a_redis_outage_are_acknowledged_and_projected_once_it_is_back(
    redis_settings: Settings,
    private_redis: tuple[int, list[subprocess.Popen[bytes]]],
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    tenant: Tenant,
) -> None:
    outage = float(os.environ.get("PEOPLELINKS_TEST_REDIS_OUTAGE_SECONDS", "30"))
    port, processes = private_redis
    worker = _start_worker(redis_settings)
    try:
        async with AsyncTestClient(app=create_app(redis_settings), timeout=60) as client:
            api = await Api.login(client, tenant.admin_email, tenant.password)
            participant = await api.new_participant(tenant.counselor_id)
            contact = await api.new_contact()
            processes[0].kill()  # Redis gone
            processes[0].wait()
            statuses: list[int] = []
            started = time.monotonic()
            while time.monotonic() - started < outage:
                body = {
                    "type": "outreach_sent",
                    "occurred_at": "2026-03-02T10:00:00Z",
                    "data": {
                        "outreach_id": str(uuid.uuid4()),
                        "contact_id": contact,
                        "channel": "email",
                        "purpose": "introduction",
                    },
                }
                statuses.append((await api.record("participant", participant, body)).status_code)
                await asyncio.sleep(0.2)
            assert statuses and all(s == 201 for s in statuses), statuses
            binary = shutil.which("redis-server")
            assert binary is not None
            processes.append(_start_redis(binary, port))  # Redis back, empty
            await _wait_caught_up(worker_pool)
            stream = (await api.get(f"/v1/participants/{participant}/events")).json()
            assert stream["version"] == 1 + len(statuses)
            rows = await worker_pool.fetchval(
                "SELECT count(*) FROM rm_outreach WHERE programme_id = $1", tenant.programme_id
            )
            assert rows == len(statuses)
            assert worker.poll() is None, "the worker died with Redis"
    finally:
        _stop(worker)
