"""Property: read models maintained incrementally, in any batch sizes, equal the ones built from scratch."""

from __future__ import annotations

import random
import uuid

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.reporting.facts import facts_from_events
from infra.accounts import create_programme, create_user
from infra.event_store import Cursor, EventStore, Metadata
from projections import report_facts
from projections.runner import catch_up, envelope_of
from services.recording import Recorder
from tests.generators import programme_log
from tests.support import fact_rows, incoming, subject_keys


# The fixtures (one database) are shared by every example on purpose: each example is its own programme.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), chunks=st.integers(1, 6), batch_size=st.integers(1, 40))
async def test_incremental_read_models_equal_a_build_from_scratch(
    pool: asyncpg.Pool, worker_pool: asyncpg.Pool, owner: asyncpg.Connection, seed: int, chunks: int, batch_size: int
) -> None:
    # The API's side: appends as the application role, for one programme.
    recorder = Recorder(EventStore(pool), keys=subject_keys())
    store = EventStore(worker_pool)  # the worker's side: reads every programme
    projection = report_facts.ReportFactsProjection()
    await owner.execute("CREATE TABLE IF NOT EXISTS scratch_facts (LIKE report_facts INCLUDING ALL)")
    await owner.execute("GRANT SELECT, INSERT, UPDATE ON scratch_facts TO peoplelinks_worker")
    rng = random.Random(seed)
    programme_id, admin = await create_programme(
        owner, name="Prop", admin_email=f"p{uuid.uuid4().hex}@x.org", admin_password="x" * 12
    )
    counselor = await create_user(
        owner, programme_id=programme_id, email=f"c{uuid.uuid4().hex}@x.org", role="counselor", password="x" * 12
    )
    log = programme_log(rng, [str(counselor), str(admin)], participants=rng.randint(1, 6))
    cut = sorted(rng.sample(range(1, len(log)), min(chunks - 1, len(log) - 1)))
    for start, end in zip([0, *cut], [*cut, len(log)], strict=True):
        await recorder.record(
            programme_id, [incoming(line) for line in log[start:end]], Metadata(programme_id=programme_id)
        )
        # Live runner: advance in small batches between appends.
        # (settling: a transaction elsewhere in the cluster may hold the horizon for a moment)
        await catch_up(store, projection, table=report_facts.TABLE, batch_size=batch_size, settle_seconds=30)
    # From scratch: every event of the store, in one pass, into a fresh table.
    cursor, everything = Cursor(), []
    while batch := await store.read_all(cursor, limit=5000):
        everything += batch
        cursor = Cursor(batch[-1].tx_id, batch[-1].global_position)
    async with worker_pool.acquire() as conn, conn.transaction():
        await projection.apply(conn, everything, "scratch_facts")
    assert await fact_rows(worker_pool, report_facts.TABLE, programme_id) == await fact_rows(
        worker_pool, "scratch_facts", programme_id
    )
    # And the rows load back into exactly the facts the pure fold makes from the same events.
    mine = [envelope_of(e) for e in everything if e.programme_id == programme_id]
    assert await report_facts.load_facts(worker_pool, programme_id) == facts_from_events(mine)
