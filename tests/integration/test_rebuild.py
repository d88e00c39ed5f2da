"""`peoplelinks rebuild` of a projection with many tables: killed mid-way it leaves nothing the next run
keeps, the next run succeeds, and readers get answers while it swaps the tables in."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from infra.event_store import EventStore, Metadata
from infra.settings import Settings
from projections import read_models
from projections.rebuild import RebuildRunning, fresh_schema, rebuild, rebuild_lock_key
from projections.runner import catch_up, read_checkpoint
from services.recording import Recorder
from tests import log_watch
from tests.generators import programme_log
from tests.integration.test_read_models import rows_of
from tests.support import Tenant, incoming, subject_keys

ROOT = Path(__file__).resolve().parents[2]


async def _append(pool: asyncpg.Pool, tenant: Tenant, participants: int, seed: int) -> None:
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    log = programme_log(random.Random(seed), [str(tenant.counselor_id)], participants=participants, actions=15)
    for start in range(0, len(log), 500):
        await recorder.record(
            tenant.programme_id,
            [incoming(line) for line in log[start : start + 500]],
            Metadata(programme_id=tenant.programme_id),
        )


async def _tables_and_schemas(owner: asyncpg.Connection) -> tuple[set[str], set[str]]:
    tables = {
        f"{row['schemaname']}.{row['tablename']}"
        for row in await owner.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
    }
    schemas = {row["nspname"] for row in await owner.fetch("SELECT nspname FROM pg_namespace")}
    return tables, schemas


async def _live_rows(worker_pool: asyncpg.Pool, programme_id: uuid.UUID) -> dict[str, list[tuple[object, ...]]]:
    return await rows_of(worker_pool, "", programme_id)


async def test_a_rebuild_swaps_in_tables_equal_to_the_live_ones_with_their_grants_and_security(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant
) -> None:
    await _append(pool, tenant, participants=10, seed=3)
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    before_tables, before_schemas = await _tables_and_schemas(owner)
    live = await _live_rows(worker_pool, tenant.programme_id)
    applied, _ = await rebuild(owner, store, projection, live_table=read_models.LIVE_PREFIX, batch_size=300)
    # (A transaction open elsewhere in the cluster may hold the last events back from the rebuild for a moment.)
    applied += await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    assert applied == await owner.fetchval("SELECT count(*) FROM events")
    assert await _live_rows(worker_pool, tenant.programme_id) == live
    assert await _tables_and_schemas(owner) == (before_tables, before_schemas)
    # The application sees its programme's rows and no other (row-level security came along).
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM rm_outreach") == 0  # no programme set
        async with conn.transaction():
            await conn.execute("SELECT set_config('peoplelinks.programme_id', $1, true)", str(tenant.programme_id))
            assert await conn.fetchval("SELECT count(*) FROM rm_outreach") == len(live["rm_outreach"]) > 0
    # The checkpoint moved with the swap: the live runner carries on with what comes next.
    await _append(pool, tenant, participants=2, seed=4)
    assert await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30) > 0


def _rebuild_command(settings: Settings, batch_size: int) -> tuple[subprocess.Popen[bytes], Path]:
    """``peoplelinks rebuild`` started, and the file of its standard error (its log lines, for the log watch)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PEOPLELINKS_REDIS_PREFIX": settings.redis_prefix,
        "PEOPLELINKS_SECRET_KEY": settings.secret_key,
    }
    errors = log_watch.output("peoplelinks rebuild, standard error")
    with errors.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "rebuild", read_models.NAME, "--batch-size", str(batch_size)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return process, errors


@pytest.mark.slow
async def test_a_rebuild_killed_mid_way_leaves_nothing_behind_the_next_one_while_readers_keep_reading(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, tenant: Tenant, settings: Settings
) -> None:
    await _append(pool, tenant, participants=60, seed=9)
    store = EventStore(worker_pool)
    projection = read_models.ReadModelsProjection()
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    before_tables, before_schemas = await _tables_and_schemas(owner)
    live = await _live_rows(worker_pool, tenant.programme_id)

    killed, killed_errors = _rebuild_command(settings, batch_size=5)
    schema = fresh_schema(read_models.NAME)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fresh_outreach = await owner.fetchval("SELECT to_regclass($1)::text", f"{schema}.rm_outreach")
            if fresh_outreach and await owner.fetchval(f"SELECT count(*) FROM {fresh_outreach}"):
                break
            assert killed.poll() is None, killed_errors.read_text(errors="replace")
            await asyncio.sleep(0.01)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.wait()
    tables, schemas = await _tables_and_schemas(owner)
    assert {f"{schema}.{t}" for t in read_models.TABLES} <= tables
    assert schema in schemas  # caught mid-way: its half-filled tables are still there
    assert await _live_rows(worker_pool, tenant.programme_id) == live  # and the live ones are untouched

    # A reader asks all along the next rebuild, the swap included: every question gets an answer.
    answers: list[tuple[int, int]] = []
    stop = asyncio.Event()

    async def read() -> None:
        while not stop.is_set():
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT set_config('peoplelinks.programme_id', $1, true)", str(tenant.programme_id))
                row = await conn.fetchrow(
                    """SELECT count(*) AS answered, 'rm_outreach'::regclass::oid::bigint AS table_oid
                       FROM rm_outreach o JOIN rm_responses r USING (programme_id, outreach_id)"""
                )
                assert row is not None
                answers.append((row["answered"], row["table_oid"]))

    reader = asyncio.create_task(read())
    again, again_errors = _rebuild_command(settings, batch_size=200)
    try:
        returncode = await asyncio.to_thread(again.wait, 120)
    finally:
        stop.set()
        await reader  # raises if any read failed
    assert returncode == 0, again_errors.read_text(errors="replace")
    # Every answer is the same, read from the old tables and then, across the swap, from the new ones.
    assert len({answered for answered, _ in answers}) == 1
    assert len({table_oid for _, table_oid in answers}) == 2
    assert await _tables_and_schemas(owner) == (before_tables, before_schemas)
    await catch_up(store, projection, table=read_models.LIVE_PREFIX, settle_seconds=30)
    assert await _live_rows(worker_pool, tenant.programme_id) == live


async def test_a_second_rebuild_of_the_same_projection_is_refused_while_one_runs(
    worker_pool: asyncpg.Pool, owner: asyncpg.Connection, settings: Settings
) -> None:
    other = await asyncpg.connect(settings.database_url)
    try:
        # Another session holds the rebuild's lock (as a running rebuild does, from start to end).
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", rebuild_lock_key(read_models.NAME))
        with pytest.raises(RebuildRunning):
            await rebuild(
                owner, EventStore(worker_pool), read_models.ReadModelsProjection(), live_table=read_models.LIVE_PREFIX
            )
    finally:
        await other.close()
    # The lock goes with the session that held it: the next rebuild runs.
    applied, _ = await rebuild(
        owner, EventStore(worker_pool), read_models.ReadModelsProjection(), live_table=read_models.LIVE_PREFIX
    )
    checkpoint = await read_checkpoint(worker_pool, read_models.NAME)
    assert checkpoint.events == applied and checkpoint.updated_at is not None
