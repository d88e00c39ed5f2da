"""Faults under load: nothing acknowledged is lost or stored twice, and everything recovers by itself.

The whole system runs on 127.0.0.1 as separate processes the suite may kill:
a PostgreSQL cluster and a Redis of its own (never the machine's), one
``peoplelinks api`` and one ``peoplelinks worker``. Eight clients (asyncio
tasks, one httpx client each) post batches and single events while, in turn,

a. the worker is killed with SIGKILL several times and started again;
b. Redis is stopped for 20 s, then started again (empty);
c. PostgreSQL is restarted, once fast and once by an immediate stop (a crash);
d. the API is killed with SIGKILL in the middle of large batches, and started again.

After each, every request the clients could not settle is sent again with the
same event ids, and the store, read as its owner, is audited against the
clients' ledger (``fault_ledger``): acknowledged events stored exactly once where
their answer said, definite failures absent, indeterminate requests at most once
and whole before the retry, exactly once after. The API must come back by itself
when PostgreSQL and Redis do (it is restarted only in d, where it was killed),
the projection lag (``GET /v1/projections``) must return to 0, the read models
must equal a build from position 0, and an outcome report asked before the fault
must keep its hash when asked again at its position afterwards.

Finally, writers racing on one stream with ``If-Match``: exactly one wins each version.

Each fault adds a row to a table (printed with ``-s``; written as Markdown to the
file named by ``PEOPLELINKS_FAULT_TABLE``), the figures of docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from infra.db import create_worker_pool
from infra.settings import Settings
from services.up import free_port
from tests.integration.conftest import PrivateCluster, prepare_database, running_cluster, running_redis
from tests.integration.fault_ledger import (
    Ledger,
    Outcome,
    Workload,
    audit,
    client,
    gaps_in_streams,
    retry_indeterminate,
    send,
    stored_counts,
)
from tests.integration.processes import kill, serve_api, start_redis, start_worker, stop, wait_ready
from tests.integration.test_read_models import assert_live_equals_a_build_from_scratch
from tests.support import MASTER_KEY, Tenant, enrolment, new_id

pytestmark = [pytest.mark.slow, pytest.mark.faults]

CLIENTS = 8
LOAD_S = 20.0  # load around each fault; the fault itself sets how long it lasts
AFTER_FAULT_S = 4.0  # load once the fault is over: the system must serve it without help
SETTLED_S = 3.0  # a request sent this long after the fault is over must not be left indeterminate
PACE_S = 0.08  # a client's pause between requests: at most this, at random (2 cores serve everything)
REQUEST_TIMEOUT_S = 10.0  # above the API's own 5 s for a busy stream
CAUGHT_UP_WITHIN_S = 60.0
REPORT = "/v1/reports/outcomes?from=2026-01-01&to=2026-06-30&as_of=2026-11-30"


@dataclass
class Rig:
    """PostgreSQL, Redis, the API and the worker, each a process the suite may kill, and who uses them."""

    cluster: PrivateCluster
    redis_port: int
    redis: list[subprocess.Popen[bytes]]
    settings: Settings
    tenant: Tenant
    api_port: int
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    token: str = ""
    workloads: list[Workload] = field(default_factory=list)
    expected: set[str] = field(default_factory=set)  # every event id the store must hold, exactly once
    rows: list[dict[str, str]] = field(default_factory=list)  # the table, one row a fault

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def http(self, timeout: float = REQUEST_TIMEOUT_S) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout, headers=headers)

    async def start_api(self) -> None:
        self.api, _ = serve_api(self.settings, port=self.api_port)
        async with self.http() as http:
            await wait_ready(http, within=30)

    def start_worker(self) -> None:
        self.worker = start_worker(self.settings)

    async def owner(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.settings.database_url)

    async def ensure_up(self) -> None:
        """Every part running, whatever an earlier test left (a failed one may have left a part stopped)."""
        if self.redis[-1].poll() is not None:
            self.redis.append(start_redis(self.redis_port))
        if not (self.cluster.data / "postmaster.pid").exists():
            await self.cluster.start()
        if self.api is None or self.api.poll() is not None:
            await self.start_api()
        if self.worker is None or self.worker.poll() is not None:
            self.start_worker()


@pytest.fixture(scope="module")
async def rig() -> AsyncIterator[Rig]:
    """The system of this module, up with each client's participants and contacts recorded."""
    with running_cluster() as cluster, running_redis() as (redis_port, redis):
        database_url, tenant = await prepare_database(cluster)
        settings = Settings(
            database_url=database_url,
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            redis_prefix="faults",
            secret_key="fault-suite-secret-key-of-32-bytes!!",
            master_key=MASTER_KEY,
        )
        the_rig = Rig(cluster, redis_port, redis, settings, tenant, api_port=free_port())
        try:
            await the_rig.ensure_up()
            async with the_rig.http() as http:
                login = await http.post(
                    "/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password}
                )
                assert login.status_code == 200, login.text
                the_rig.token = login.json()["access_token"]
            rng = random.Random(12)
            the_rig.workloads = [
                Workload(i, str(tenant.counselor_id), random.Random(rng.random())) for i in range(CLIENTS)
            ]
            async with the_rig.http() as http:
                for workload in the_rig.workloads:
                    setup = workload.setup()
                    assert await send(http, setup, Ledger()) == Outcome.ACKNOWLEDGED, setup.heard
                    the_rig.expected.update(setup.event_ids)
            yield the_rig
        finally:
            for process in (the_rig.api, the_rig.worker):
                if process is not None:
                    stop(process)
            _write_table(the_rig.rows)


def _write_table(rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
        *("| " + " | ".join(row[c] for c in columns) + " |" for row in rows),
    ]
    print("\n" + "\n".join(lines))  # shown with -s
    target = os.environ.get("PEOPLELINKS_FAULT_TABLE")
    if target:
        Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")


Fault = Callable[[Rig, Ledger], Awaitable[float]]
"""Brings a fault about while the clients send, and answers when it was over (``time.monotonic()``)."""


async def _projection_lag(http: httpx.AsyncClient) -> tuple[int, int] | None:
    """(head, the largest lag of any projection) from ``GET /v1/projections``, None when unanswered."""
    try:
        answer = await http.get("/v1/projections")
    except httpx.TransportError:
        return None
    if answer.status_code != 200:
        return None
    body = answer.json()
    return int(body["head"]), max(int(p["lag"]) for p in body["projections"])


async def _watch_lag(rig: Rig, stop: asyncio.Event, longest: list[int]) -> None:
    async with rig.http(timeout=2.0) as http:
        while not stop.is_set():
            seen = await _projection_lag(http)
            if seen is not None:
                longest[0] = max(longest[0], seen[1])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)


async def _caught_up(rig: Rig) -> float:
    """Seconds until every projection's lag is 0 (and stays so: nothing is appended meanwhile)."""
    started = time.monotonic()
    async with rig.http() as http:
        while time.monotonic() - started < CAUGHT_UP_WITHIN_S:
            seen = await _projection_lag(http)
            if seen is not None and seen[0] > 0 and seen[1] == 0:
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        raise AssertionError(f"the projections did not catch up within {CAUGHT_UP_WITHIN_S}s: {seen}")


async def _report(rig: Rig, query: str = "") -> dict[str, Any]:
    # The first report after thousands of new rows waits on stale planner statistics (seconds; see
    # docs/reliability.md): a generous timeout, so that the suite checks figures, not the planner.
    async with rig.http(timeout=60) as http:
        answer = await http.get(REPORT + query)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


async def _under_load(rig: Rig, fault: Fault) -> tuple[Ledger, float, int]:
    """Eight clients sending for the load phase while ``fault`` runs; the ledger, when it was over, the longest lag."""
    ledger, stop, longest = Ledger(), asyncio.Event(), [0]
    https = [rig.http() for _ in rig.workloads]
    watcher = asyncio.create_task(_watch_lag(rig, stop, longest))
    clients = [
        asyncio.create_task(client(http, workload, ledger, stop, PACE_S))
        for http, workload in zip(https, rig.workloads, strict=True)
    ]
    started = time.monotonic()
    try:
        over = await fault(rig, ledger)
        # Load until the phase's end, and for a while after the fault at least.
        await asyncio.sleep(max(started + LOAD_S, over + AFTER_FAULT_S) - time.monotonic())
    finally:
        stop.set()
        await asyncio.gather(*clients, watcher, return_exceptions=True)
        for http in https:
            await http.aclose()
    return ledger, over, longest[0]


@dataclass(frozen=True)
class Expect:
    """What a fault may disturb."""

    api_restarted: bool = False  # the fault restarts the API; otherwise the same process serves throughout
    worker_restarted: bool = False  # likewise the worker
    writes_disturbed: bool = True  # False: the write path does not need what failed, so no request may go unsettled


async def _check_and_record(rig: Rig, name: str, fault: Fault, expect: Expect) -> None:
    """Run ``fault`` under load, audit the store, check that everything recovered, and add the table's row."""
    await rig.ensure_up()
    await _caught_up(rig)
    before = await _report(rig)
    api, worker = rig.api, rig.worker

    ledger, over, longest_lag = await _under_load(rig, fault)

    unexpected = [f"{a.path} {a.heard}" for a in ledger.of(Outcome.FAILED) if a.valid]
    unexpected += [f"{a.path} {a.heard}" for a in ledger.of(Outcome.ACKNOWLEDGED) if not a.valid]
    assert not unexpected, f"answers no fault explains: {Counter(unexpected).most_common(5)}"
    indeterminate = ledger.of(Outcome.INDETERMINATE)
    if not expect.writes_disturbed:
        assert not indeterminate, f"unsettled requests: {Counter(a.heard for a in indeterminate)}"
    # Recovered by itself: every client was acknowledged again after the fault, nothing sent once the system had
    # had a moment was left unsettled, and no process was restarted but those the fault restarts.
    after = [a for a in ledger.of(Outcome.ACKNOWLEDGED) if a.answered_at >= over]
    assert {a.client for a in after} == set(range(CLIENTS)), "a client was never acknowledged after the fault"
    recovered_in = min(a.answered_at for a in after) - over
    late = [a.heard for a in indeterminate if a.sent_at >= over + SETTLED_S]
    assert not late, f"unsettled {SETTLED_S}s after the fault was over: {Counter(late)}"
    for what, then, now, restarted in (
        ("API", api, rig.api, expect.api_restarted),
        ("worker", worker, rig.worker, expect.worker_restarted),
    ):
        assert now is not None and now.poll() is None, f"the {what} is not running"
        assert restarted or now is then, f"the {what} process was replaced"

    conn = await rig.owner()
    try:
        # Before any retry: an indeterminate request is stored at most once, and whole or not at all.
        stored = await stored_counts(conn, rig.tenant.programme_id)
        for append in indeterminate:
            append.landed_before_retry = stored[append.event_ids[0]] > 0
        first = await audit(conn, rig.tenant.programme_id, ledger)
        assert (first.duplicated, first.partial) == ([], []), (first.duplicated[:3], first.partial[:3])

        async with rig.http() as http:
            await retry_indeterminate(http, ledger)
        still = [a.heard for a in ledger.of(Outcome.INDETERMINATE)]
        assert not still, f"requests still unsettled after retrying for a minute: {Counter(still)}"
        wrong = [f"{a.path} {a.heard}" for a in indeterminate if a.valid != (a.outcome == Outcome.ACKNOWLEDGED)]
        assert not wrong, f"retried requests answered otherwise than they should: {wrong[:5]}"

        found = await audit(conn, rig.tenant.programme_id, ledger)
        assert found.lost == [], f"{len(found.lost)} acknowledged events lost"
        assert found.duplicated == [], f"{len(found.duplicated)} events stored twice"
        assert found.present_after_failure == [], f"{len(found.present_after_failure)} refused events stored"
        assert found.misplaced == [], f"{len(found.misplaced)} events stored elsewhere than acknowledged"
        assert found.partial == [], f"{len(found.partial)} requests stored in part"
        # The whole store: exactly the events acknowledged so far (this fault's and every earlier one's).
        rig.expected.update(e for a in ledger.of(Outcome.ACKNOWLEDGED) for e in a.event_ids)
        everything = await stored_counts(conn, rig.tenant.programme_id)
        assert set(everything) == rig.expected, (
            f"missing {len(rig.expected - set(everything))}, unexpected {len(set(everything) - rig.expected)}"
        )
        assert max(everything.values()) == 1
        assert await gaps_in_streams(conn, rig.tenant.programme_id) == []

        caught_up_in = await _caught_up(rig)
        worker_pool = await create_worker_pool(rig.settings)
        try:
            await assert_live_equals_a_build_from_scratch(
                worker_pool, conn, rig.tenant.programme_id, schema=f"scratch_{len(rig.rows)}"
            )
        finally:
            await worker_pool.close()
    finally:
        await conn.close()

    # The report asked before the fault, asked again at its position: the same figures. Asked afresh, it has
    # moved (the fault's events count), so the equality above is no accident.
    pinned = await _report(rig, f"&as_of_position={before['global_position']}")
    assert (pinned["global_position"], pinned["hash"]) == (before["global_position"], before["hash"])
    fresh = await _report(rig)
    assert fresh["global_position"] > before["global_position"]
    assert fresh["hash"] != before["hash"]

    heard = Counter(a.heard_before_retry for a in indeterminate)
    rig.rows.append(
        {
            "fault": name,
            "requests": str(len(ledger.appends)),
            "acknowledged (events)": f"{len(ledger.of(Outcome.ACKNOWLEDGED))} ({ledger.events(Outcome.ACKNOWLEDGED)})",
            "lost": str(len(found.lost)),
            "duplicated": str(len(found.duplicated)),
            "definite failures (stored)": f"{len(ledger.of(Outcome.FAILED))} ({len(found.present_after_failure)})",
            "indeterminate (landed before the retry)": (
                f"{len(indeterminate)} ({sum(a.landed_before_retry for a in indeterminate)})"
            ),
            "heard when indeterminate": ", ".join(f"{k} ×{n}" for k, n in heard.most_common()) or "-",
            "recovered by itself": (
                f"yes: 2xx {recovered_in:.1f} s after the fault"
                + ("" if expect.api_restarted else ", same API process")
                + ("" if expect.worker_restarted else ", same worker")
            ),
            "longest lag (events)": str(longest_lag),
            "lag 0 again": f"{caught_up_in:.1f} s after the load",
            "pinned report": "same hash",
        }
    )


async def _kill_the_worker_repeatedly(rig: Rig, ledger: Ledger) -> float:
    rng = random.Random(1)
    for _ in range(4):
        await asyncio.sleep(rng.uniform(2.0, 3.5))
        assert rig.worker is not None
        kill(rig.worker)  # SIGKILL, whatever it was doing
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        rig.start_worker()
    return time.monotonic()


async def _stop_redis_for_20_s(rig: Rig, ledger: Ledger) -> float:
    await asyncio.sleep(2.0)
    rig.redis[-1].terminate()
    rig.redis[-1].wait()
    await asyncio.sleep(20.0)
    rig.redis.append(start_redis(rig.redis_port))  # back, and empty
    return time.monotonic()


async def _restart_postgres(rig: Rig, ledger: Ledger) -> float:
    await asyncio.sleep(3.0)
    await rig.cluster.restart_fast()
    await asyncio.sleep(6.0)
    await rig.cluster.crash()  # pg_ctl stop -m immediate: no checkpoint, crash recovery on start
    await asyncio.sleep(1.0)
    await rig.cluster.start()
    return time.monotonic()


LARGE_BATCH = 50  # events; the API takes a good 100 ms over one on 2 cores (decode, rules, encrypt, store)


async def _kill_the_api_mid_batch(rig: Rig, ledger: Ledger) -> float:
    ledger.large = LARGE_BATCH
    rng = random.Random(4)
    for _ in range(3):
        await asyncio.sleep(2.0)
        ledger.large_sent.clear()
        await asyncio.wait_for(ledger.large_sent.wait(), 10)
        await asyncio.sleep(rng.uniform(0.005, 0.05))  # inside the batch's handling
        assert rig.api is not None
        kill(rig.api)
        await asyncio.sleep(0.5)
        await rig.start_api()
    return time.monotonic()


async def test_a_worker_killed_again_and_again_loses_nothing_and_its_read_models_match_a_rebuild(rig: Rig) -> None:
    await _check_and_record(
        rig,
        "a. worker SIGKILLed 4 times, restarted",
        _kill_the_worker_repeatedly,
        Expect(worker_restarted=True, writes_disturbed=False),
    )


async def test_b_redis_stopped_for_20_s_loses_nothing_and_the_system_recovers_by_itself(rig: Rig) -> None:
    await _check_and_record(rig, "b. Redis stopped 20 s", _stop_redis_for_20_s, Expect(writes_disturbed=False))


async def test_c_postgres_restarted_fast_and_immediate_loses_nothing_and_the_api_recovers_by_itself(rig: Rig) -> None:
    await _check_and_record(rig, "c. PostgreSQL restarted fast, then stopped immediate", _restart_postgres, Expect())


async def test_d_the_api_killed_mid_batch_loses_nothing_acknowledged(rig: Rig) -> None:
    for workload in rig.workloads:
        workload.batch_size = (LARGE_BATCH, 3 * LARGE_BATCH)
    try:
        await _check_and_record(
            rig, "d. API SIGKILLed mid-batch 3 times, restarted", _kill_the_api_mid_batch, Expect(api_restarted=True)
        )
    finally:
        for workload in rig.workloads:
            workload.batch_size = (2, 16)


WRITERS = 8
VERSIONS = 40


async def test_writers_racing_with_if_match_win_each_version_once_and_leave_no_gap(rig: Rig) -> None:
    await rig.ensure_up()
    participant = new_id()
    contact = rig.workloads[0].contacts[0]
    async with rig.http() as http:
        opened = await http.post(
            f"/v1/participants/{participant}/events",
            json={**enrolment(rig.tenant.counselor_id), "event_id": new_id()},
            headers={"If-Match": "0"},
        )
        assert opened.status_code == 201, opened.text
        won: list[tuple[int, int, str]] = []  # (If-Match, the version the answer gave, event id)
        lost: list[tuple[int, str]] = []
        other: list[str] = []
        deadline = time.monotonic() + 30

        async def writer() -> None:
            while len(won) < VERSIONS and time.monotonic() < deadline:
                stream = await http.get(f"/v1/participants/{participant}/events")
                assert stream.status_code == 200, stream.text
                version = int(stream.json()["version"])
                body = rig.workloads[0].outreach(contact)
                answer = await http.post(
                    f"/v1/participants/{participant}/events", json=body, headers={"If-Match": str(version)}
                )
                if answer.status_code == 201:
                    won.append((version, int(answer.json()["stream_version"]), body["event_id"]))
                elif answer.status_code == 409:
                    lost.append((version, body["event_id"]))
                else:
                    other.append(f"{answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(writer() for _ in range(WRITERS)))

    assert not other, other[:3]
    assert len(won) >= VERSIONS, f"only {len(won)} versions won in 30 s"
    wins = Counter(expected for expected, _, _ in won)
    top = 1 + len(won)
    assert wins == Counter(range(1, top)), "a version was won twice, or none won it"
    assert all(given == expected + 1 for expected, given, _ in won)
    assert lost, "no writer ever lost a race: the test raced nobody"
    assert all(expected < top for expected, _ in lost)

    conn = await rig.owner()
    try:
        rows = await conn.fetch(
            "SELECT event_id::text AS id, stream_version FROM events WHERE programme_id = $1 AND stream_id = $2"
            " ORDER BY stream_version",
            rig.tenant.programme_id,
            f"participant-{participant}",
        )
    finally:
        await conn.close()
    assert [row["stream_version"] for row in rows] == list(range(1, top + 1)), "a gap or a duplicate version"
    stored = {row["id"] for row in rows[1:]}
    assert stored == {event_id for _, _, event_id in won}
    assert not stored & {event_id for _, event_id in lost}
    rig.expected.update(row["id"] for row in rows)
    rig.rows.append(
        {
            "fault": f"If-Match race: {WRITERS} writers on one stream, no fault",
            "requests": str(len(won) + len(lost)),
            "acknowledged (events)": f"{len(won)} ({len(won)}), one a version",
            "lost": "0",
            "duplicated": "0",
            "definite failures (stored)": f"{len(lost)} ×409 (0)",
            "indeterminate (landed before the retry)": "0",
            "heard when indeterminate": "-",
            "recovered by itself": "-",
            "longest lag (events)": "-",
            "lag 0 again": "-",
            "pinned report": "-",
        }
    )
