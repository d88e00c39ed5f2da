"""Reads from the read models: the figures of issue 9's "Must show" table, over a generated store.

A benchmark, not a test. It uses the store of ``bench/projections.py`` (its
generator, its options, its helpers): a new one of ``--participants`` (5,000 by
default, about 200 events each: 1M events; 50,000 gives 10M), or one kept
before (``--database``). Then:

- ``catchup``: every projection of ``projections.registry`` emptied and caught up
  from position 0 (``bench/projections.py``'s phase); the ``rm_*`` tables are
  then analysed (untimed), as autovacuum would have done on a store at rest;
- for each read, a freshly started ``peoplelinks api`` process, whose first
  request is timed on its own ("first request after the API starts") and whose
  later requests, one at a time, give the read's latencies:
  ``outcomes`` (staff over the whole span; funders over released quarters, which
  an admin releases first with ``POST /v1/reports/releases``), ``dashboard``
  (staff, a year, every ``group_by``; funders' released dashboards apart),
  ``follow_ups`` (one counselor's queue, as that counselor), ``participant``
  (one participant's timeline, relationships and pipeline), and ``mixed``
  (1,000 reads of every kind, then the API's RSS);
- ``steps``: the same reads in this process with the API's own functions, each
  step and SQL statement timed, and ``EXPLAIN (ANALYZE, BUFFERS)`` of each read's
  slowest statement: where the time goes;
- ``freshness`` and ``memory``: ``bench/projections.py``'s phases (201 → visible
  on the dashboard at 500 appends/s; ``peoplelinks rebuild``'s peak RSS).

The figures go to ``bench/RESULTS.md`` (section "Reads (bench/reads.py)"; other
sections and the section's hand-written notes are kept).

Run: ``python -m bench.reads`` (about 15 minutes with a new 1M store), ``python -m bench.reads --quick``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import math
import os
import platform
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import asyncpg
import httpx
import msgspec
from rich.table import Table

from bench.append import (
    QUIET,
    _proc_stats,
    code_under_test,
    console,
    cpu_delta,
    cpu_snapshot,
    drop_redis_keys,
    make_progress,
    profiled,
    run_async,
    settle,
)
from bench.projections import (
    STORES_INFO,
    BenchStore,
    Run,
    Service,
    add_phase_arguments,
    add_store_arguments,
    catch_up_all,
    describe_store,
    drop_database,
    login,
    old_notes,
    open_or_build,
    pct,
    proc_memory_mb,
    run_phases,
    settings_for,
    start_api,
    wait_ready,
    write_section,
)
from bench.projections import aims as projection_aims
from projections.participant_views import prepare_follow_ups
from projections.registry import PROJECTIONS
from projections.runner import projection_status
from services.demo import DEMO_START

SECTION = "## Reads (bench/reads.py)"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
READS = ("outcomes", "dashboard", "follow_ups", "participant", "mixed")
PHASES = ("catchup", *READS, "steps", "freshness", "memory")
GROUP_BYS: tuple[str | None, ...] = (None, "channel", "purpose", "attempt", "cohort", "week", "counselor")
VIEWS = ("timeline", "relationships", "pipeline")
T = TypeVar("T")
TEN_MILLION = 5_000_000
"""A big programme of at least this many events is judged by the 10M aims."""


@dataclass(frozen=True)
class Aim:
    """One line of the issue's table: what is measured and the bound at 1M and at 10M events."""

    figure: str
    at_1m: float
    at_10m: float
    unit: str
    at_least: bool = False
    strict: bool = False

    def bound(self, events: int) -> float:
        return self.at_10m if events >= TEN_MILLION else self.at_1m

    def met(self, value: float | None, events: int) -> bool:
        if value is None:
            return False
        bound = self.bound(events)
        if self.at_least:
            return value >= bound
        return value < bound if self.strict else value <= bound

    def text(self, events: int) -> str:
        sign = "≥" if self.at_least else ("<" if self.strict else "≤")
        size = "10M" if events >= TEN_MILLION else "1M"
        other = self.at_1m if events >= TEN_MILLION else self.at_10m
        other_size = "1M" if events >= TEN_MILLION else "10M"
        return f"{sign} {self.bound(events):,.0f} {self.unit} at {size} ({other:,.0f} at {other_size})"


AIMS: dict[str, Aim] = {
    "outcomes": Aim("outcome report, whole span, staff and funder, p95", 100, 300, "ms"),
    "dashboard": Aim("response-rate dashboard, a year, every group_by, p95", 100, 300, "ms"),
    "follow_ups": Aim("follow-up queue of one counselor, p95", 50, 50, "ms"),
    "participant": Aim("one participant's timeline, relationships, pipeline, p95", 20, 20, "ms"),
    "rss": Aim("API RSS after 1,000 mixed reads", 200, 200, "MB"),
    "first": Aim("first request after the API starts", 300, 300, "ms"),
    "catchup": Aim("catch-up of every read model from position 0", 20_000, 20_000, "events/s", at_least=True),
    "freshness": Aim("freshness: 201 → visible on the dashboard, p95, at 500 appends/s", 300, 300, "ms", strict=True),
    "rebuild": Aim("`peoplelinks rebuild` peak RSS", 300, 300, "MB", strict=True),
}


# --------------------------------------------------------------------------- the reads


class Read(msgspec.Struct, frozen=True):
    """One GET: who asks (a token's name), the path, its query, and the kind it is counted under."""

    who: str
    path: str
    params: dict[str, str]
    kind: str


@dataclass
class Series:
    """The reads of one freshly started API process: its first request apart, then the timed ones."""

    key: str
    label: str
    audience: str
    latencies: list[float] = field(default_factory=list)  # ms
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # ms
    sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    first_ms: float | None = None
    first_what: str = ""
    startup_seconds: float = 0.0
    rss_after_first_mb: float = 0.0
    rss_end_mb: float = 0.0
    peak_mb: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    """Failed reads by status and kind (they are timed too)."""
    given_up: list[str] = field(default_factory=list)
    """Kinds left out of the rest of the series after ``--max-errors`` failures."""
    skipped: int = 0
    """Reads of those kinds not asked."""
    note: str = ""
    """What else the figure needs to be read with (shown with it)."""

    def p(self, q: float, kind: str | None = None) -> float | None:
        return pct(self.latencies if kind is None else self.by_kind.get(kind, []), q)


def first_day() -> dt.date:
    """The first day of the generated stories' first year (enrolments start on ``services.demo.DEMO_START``)."""
    return DEMO_START.date().replace(month=1, day=1)


def recent_day(rng: random.Random, store: BenchStore, days: int = 30) -> dt.date:
    """One of the last ``days`` days of the store's stories."""
    return store.until.date() - dt.timedelta(days=rng.randrange(days))


def outcome_reads(rng: random.Random, store: BenchStore, count: int) -> list[Read]:
    """Staff: the outcome report over the whole span (every enrolment up to ``as_of``), ``as_of`` in the last month."""
    reads = []
    for _ in range(count):
        as_of = recent_day(rng, store)
        query = {"from": first_day().isoformat(), "to": as_of.isoformat(), "as_of": as_of.isoformat()}
        reads.append(Read("staff", "/v1/reports/outcomes", query, "staff, whole span"))
    return reads


def funder_outcome_reads(periods: Sequence[str], count: int) -> list[Read]:
    """Funders: the outcome report of a released quarter (the only one they may read)."""
    return [
        Read("funder", "/v1/reports/outcomes", {"period": period}, "funder, released quarter")
        for period in itertools.islice(itertools.cycle(periods), count)
    ]


def dashboard_reads(rng: random.Random, store: BenchStore, count: int) -> list[Read]:
    """Staff: the response-rate dashboard over a year up to a day of the last month, each grouping in turn."""
    reads = []
    for n in range(count):
        as_of = recent_day(rng, store)
        start = as_of.replace(year=as_of.year - 1) + dt.timedelta(days=1)
        query = {"from": start.isoformat(), "to": as_of.isoformat(), "as_of": as_of.isoformat()}
        group_by = GROUP_BYS[n % len(GROUP_BYS)]
        if group_by is not None:
            query["group_by"] = group_by
        reads.append(Read("staff", "/v1/dashboards/response-rates", query, group_by or "none"))
    return reads


def funder_dashboard_reads(periods: Sequence[str], count: int) -> list[Read]:
    """Funders: a released quarter's dashboard, each grouping a funder may see in turn."""
    groupings = [g for g in GROUP_BYS if g != "counselor"]
    reads = []
    for n, period in zip(range(count), itertools.cycle(periods), strict=False):
        group_by = groupings[n % len(groupings)]
        query = {"period": period} | ({"group_by": group_by} if group_by else {})
        reads.append(Read("funder", "/v1/dashboards/response-rates", query, f"funder, {group_by or 'none'}"))
    return reads


def follow_up_reads(counselors: Sequence[str], count: int) -> list[Read]:
    """Each counselor's own queue, as of today (the default), the counselors in turn."""
    return [
        Read(who, "/v1/follow-ups", {}, "counselor") for who in itertools.islice(itertools.cycle(counselors), count)
    ]


def participant_reads(rng: random.Random, store: BenchStore, count: int) -> list[Read]:
    """Staff: the timeline, relationships and pipeline of ``count`` participants drawn at random, as of today."""
    reads = []
    for participant in rng.choices(store.big.participants, k=count):
        reads += [Read("staff", f"/v1/participants/{participant}/{view}", {}, view) for view in VIEWS]
    return reads


def mixed_reads(
    rng: random.Random, store: BenchStore, periods: Sequence[str], counselors: Sequence[str], count: int
) -> list[Read]:
    """``count`` reads of every kind in a random order: views 45%, follow-ups 20%, dashboards 20%, reports 15%."""
    pools: list[tuple[float, list[Read]]] = [
        (0.45, participant_reads(rng, store, count // 3 + 1)),
        (0.20, follow_up_reads(counselors, count)),
        (0.15, dashboard_reads(rng, store, count)),
        (0.05, funder_dashboard_reads(periods, count)),
        (0.10, outcome_reads(rng, store, count)),
        (0.05, funder_outcome_reads(periods, count)),
    ]
    pools = [(weight, reads) for weight, reads in pools if reads]  # no funder reads when nothing is released
    iterators = [iter(reads) for _, reads in pools]
    weights = [weight for weight, _ in pools]
    return [next(iterators[rng.choices(range(len(pools)), weights)[0]]) for _ in range(count)]


# --------------------------------------------------------------------------- the releases and the users


def complete_quarters(today: dt.date) -> list[str]:
    """Every calendar quarter from the stories' first one to the last one over before ``today``."""
    periods: list[str] = []
    year, number = first_day().year, 1
    while True:
        after = dt.date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1)
        if after > today - dt.timedelta(days=1):  # released the day after the quarter's end at the earliest
            return periods
        periods.append(f"{year}-Q{number}")
        year, number = (year + 1, 1) if number == 4 else (year, number + 1)


def counselor_email(store: BenchStore, n: int) -> str:
    """The e-mail ``bench/projections.py`` gave the big programme's ``n``th counselor."""
    return f"counselor{n}-big-{store.db_name.removeprefix('plbench_')}@bench.example"


async def forget_releases(store: BenchStore) -> None:
    """As the owner: nothing released yet, so that this run's releases are made (and timed) again."""
    conn = await asyncpg.connect(store.database_url)
    try:
        await conn.execute("DELETE FROM report_releases WHERE programme_id = $1", store.big.programme_id)
    finally:
        await conn.close()


async def forget_follow_up_answers(store: BenchStore) -> None:
    """As the owner: no stored follow-up answer, so that the queue is computed from the rows."""
    conn = await asyncpg.connect(store.database_url)
    try:
        await conn.execute("DELETE FROM follow_up_answers")
    finally:
        await conn.close()


async def prepare_follow_up_answers(store: BenchStore) -> float:
    """The worker's job of the day: every programme's follow-up answers for today; its seconds."""
    pool = await asyncpg.create_pool(store.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        started = time.perf_counter()
        await prepare_follow_ups(pool, dt.datetime.now(dt.UTC))
        return time.perf_counter() - started
    finally:
        await pool.close()


async def level_with_the_store(store: BenchStore, within_seconds: float = 600.0) -> None:
    """Every projection at the store's head: caught up again while another session's transaction holds the horizon."""
    deadline = time.monotonic() + within_seconds
    conn = await asyncpg.connect(store.database_url)
    try:
        while True:
            _, statuses = await projection_status(conn, list(PROJECTIONS))
            if all(status.lag == 0 for status in statuses):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the projections did not reach the store's head within {within_seconds:.0f} s")
            await catch_up_all(store)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def analyze_read_models(store: BenchStore) -> float:
    """As the owner: ``VACUUM (ANALYZE)`` of every projection's tables, as autovacuum leaves a store at rest."""
    started = time.perf_counter()
    conn = await asyncpg.connect(store.database_url)
    try:
        for projection, _ in PROJECTIONS.values():
            for table in projection.tables:
                await conn.execute(f'VACUUM (ANALYZE) "{table}"')
    finally:
        await conn.close()
    return time.perf_counter() - started


async def log_in_and_release(
    store: BenchStore, base_url: str, counselors: int, periods: Sequence[str]
) -> tuple[dict[str, str], list[float]]:
    """Every bench user's token, and the admin's release of each quarter (ms each)."""
    tokens = {
        "admin": await login(base_url, store.big.admin_email, store.password),
        "staff": await login(base_url, store.big.staff_email, store.password),
        "funder": await login(base_url, store.big.funder_email, store.password),
    }
    for n in range(min(counselors, len(store.big.counselor_ids))):
        tokens[f"counselor{n}"] = await login(base_url, counselor_email(store, n), store.password)
    released: list[float] = []
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=600
    ) as http:
        for period in periods:
            asked = time.perf_counter()
            response = await http.post("/v1/reports/releases", json={"period": period})
            if response.status_code not in (200, 201):
                raise RuntimeError(f"release of {period} answered {response.status_code}: {response.text[:300]}")
            released.append((time.perf_counter() - asked) * 1000)
    return tokens, released


# --------------------------------------------------------------------------- over HTTP, one fresh API a series


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) summed over a process and its children (uvicorn's workers when ``--api-workers`` > 1)."""
    stats = _proc_stats()
    tree, grew = {pid}, True
    while grew:
        grew = False
        for child, (parent, _, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    rss = hwm = 0.0
    for member in tree:
        r, h = proc_memory_mb(member)
        rss, hwm = rss + r, hwm + h
    return rss, hwm


def failure(response: httpx.Response, read: Read) -> str | None:
    """What was wrong with an answer (its status and the read's kind), or None for a JSON 200."""
    if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
        return None
    return f"{response.status_code} on {read.path.rsplit('/', 1)[-1]} ({read.kind})"


async def time_reads(
    base_url: str,
    api: Service,
    tokens: dict[str, str],
    reads: Sequence[Read],
    series: Series,
    progress: Any,
    max_errors: int,
) -> None:
    """The first read on its own (the process's first request), then every read, one at a time.

    A failed read is timed and counted like the others, and named in ``series.errors``. After
    ``max_errors`` failures of one kind (a grouping, a view), the series leaves that kind out (a read
    that runs into the statement timeout would otherwise hold the run for hours) and goes on with the others.
    """
    clients = {
        who: httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=600)
        for who in {read.who for read in reads}
    }
    try:
        first = reads[0]
        asked = time.perf_counter()
        response = await clients[first.who].get(first.path, params=first.params)
        series.first_ms = (time.perf_counter() - asked) * 1000
        wrong = failure(response, first)
        if wrong is not None:
            series.errors[f"first request: {wrong}"] = 1
        series.first_what = f"{first.path.rsplit('/', 1)[-1]} ({first.kind})"
        series.rss_after_first_mb = tree_memory_mb(api.pid)[0]
        task = progress.add_task(f"{series.label} ({series.audience})", total=len(reads))
        before = cpu_snapshot(api.pid)
        started = time.perf_counter()
        failed: dict[str, int] = {}
        for read in reads:
            if read.kind in series.given_up:
                series.skipped += 1
                progress.advance(task)
                continue
            asked = time.perf_counter()
            response = await clients[read.who].get(read.path, params=read.params)
            ms = (time.perf_counter() - asked) * 1000
            wrong = failure(response, read)
            if wrong is not None:
                series.errors[wrong] = series.errors.get(wrong, 0) + 1
                failed[read.kind] = failed.get(read.kind, 0) + 1
                if failed[read.kind] >= max_errors:
                    series.given_up.append(read.kind)
                    console.print(
                        f"[red]  {series.key}: {read.kind} left out after {max_errors} failed reads "
                        f"({wrong}, {ms:,.0f} ms): {response.text[:200]}[/]"
                    )
            series.latencies.append(ms)
            series.by_kind.setdefault(read.kind, []).append(ms)
            series.sizes.append(len(response.content))
            progress.advance(task)
        series.seconds = time.perf_counter() - started
        series.cpu = cpu_delta(before, cpu_snapshot(api.pid))
        series.rss_end_mb, series.peak_mb = tree_memory_mb(api.pid)
    finally:
        for client in clients.values():
            await client.aclose()


@dataclass
class Context:
    """What every series needs: the store, the users' tokens, where the services log, and the options."""

    store: BenchStore
    args: argparse.Namespace
    tokens: dict[str, str]
    periods: list[str]
    redis_prefix: str
    secret: str
    log_dir: Path

    @property
    def counselors(self) -> list[str]:
        return [who for who in self.tokens if who.startswith("counselor")]


def measure_series(ctx: Context, series: Series, reads: Sequence[Read]) -> Series:
    """``reads`` against a freshly started ``peoplelinks api`` (stopped afterwards)."""
    settle(series.key)
    started = time.perf_counter()
    api, base_url = start_api(ctx.store, ctx.redis_prefix, ctx.secret, ctx.log_dir, ctx.args.api_workers)
    try:
        run_async(wait_ready(api, base_url))
        series.startup_seconds = time.perf_counter() - started
        with make_progress() as progress, profiled(ctx.args.profile_dir, series.key, api.pid):
            run_async(time_reads(base_url, api, ctx.tokens, reads, series, progress, ctx.args.max_errors))
    except Exception as e:
        # One broken series (the API gone, a read past the client's timeout) leaves the others to measure.
        console.print(f"[red]{series.key} broke off: {e!r}\nAPI log:[/]\n{api.log_tail()}")
        series.errors[f"the series broke off: {type(e).__name__}"] = 1
    except BaseException:
        console.print(f"[red]API log:[/]\n{api.log_tail()}")
        raise
    finally:
        api.stop()
    console.print(
        f"  {series.label} ({series.audience}): first {_fmt(series.first_ms)} ms, p50 {_fmt(series.p(0.5))}, "
        f"p95 {_fmt(series.p(0.95))} ms; {_cores(series.cpu, series.seconds)}"
    )
    return series


def measure_reads(ctx: Context, phases: set[str]) -> list[Series]:
    """Every series over HTTP, each from a freshly started API process."""
    rng = random.Random(ctx.args.seed)
    n = ctx.args.requests
    found: list[Series] = []
    if "outcomes" in phases:
        found.append(
            measure_series(
                ctx,
                Series("outcomes_staff", "GET /v1/reports/outcomes, whole span", "staff"),
                outcome_reads(rng, ctx.store, n),
            )
        )
        if ctx.periods:
            found.append(
                measure_series(
                    ctx,
                    Series("outcomes_funder", "GET /v1/reports/outcomes?period= (released quarter)", "funder"),
                    funder_outcome_reads(ctx.periods, n),
                )
            )
    if "dashboard" in phases:
        found.append(
            measure_series(
                ctx,
                Series("dashboard_staff", "GET /v1/dashboards/response-rates, a year, every group_by", "staff"),
                dashboard_reads(rng, ctx.store, n),
            )
        )
        if ctx.periods:
            found.append(
                measure_series(
                    ctx,
                    Series("dashboard_funder", "GET /v1/dashboards/response-rates?period= (released)", "funder"),
                    funder_dashboard_reads(ctx.periods, n),
                )
            )
    if "follow_ups" in phases:
        # Nothing stored: each counselor's queue computed from the rows (the first of them is then served).
        run_async(forget_follow_up_answers(ctx.store))
        found.append(
            measure_series(
                ctx,
                Series("follow_ups_cold", "GET /v1/follow-ups, one counselor's queue", "counselor, nothing stored"),
                follow_up_reads(ctx.counselors, len(ctx.counselors)),
            )
        )
        # As deployed: the worker has prepared the day's answers (its hourly job), and counselors read them.
        run_async(forget_follow_up_answers(ctx.store))
        prepared = run_async(prepare_follow_up_answers(ctx.store))
        warm = Series(
            "follow_ups", "GET /v1/follow-ups, one counselor's queue", "counselor, the day's answers prepared"
        )
        warm.note = f"the worker's preparation of the day's answers: {prepared:,.1f} s for the whole store"
        found.append(measure_series(ctx, warm, follow_up_reads(ctx.counselors, n)))
    if "participant" in phases:
        found.append(
            measure_series(
                ctx,
                Series("participant", "GET /v1/participants/{id}/timeline|relationships|pipeline", "staff"),
                participant_reads(rng, ctx.store, n),
            )
        )
    if "mixed" in phases:
        found.append(
            measure_series(
                ctx,
                Series("mixed", f"{ctx.args.mixed:,} mixed reads (every kind above)", "all"),
                mixed_reads(rng, ctx.store, ctx.periods, ctx.counselors, ctx.args.mixed),
            )
        )
    return found


# --------------------------------------------------------------------------- in process: where the time goes


@dataclass
class Statement:
    """One statement a read sent, with its arguments and how long PostgreSQL took to answer it."""

    method: str
    sql: str
    args: tuple[Any, ...]
    ms: float
    failed: bool = False


class TimedConnection:
    """An asyncpg connection that notes each statement, so a read's SQL time and slowest query can be told apart."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: list[Statement] = []

    async def _timed(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        started = time.perf_counter()
        try:
            value = await getattr(self._conn, method)(sql, *args)
        except BaseException:
            self.statements.append(Statement(method, sql, args, (time.perf_counter() - started) * 1000, True))
            raise
        self.statements.append(Statement(method, sql, args, (time.perf_counter() - started) * 1000))
        return value

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._timed("fetch", sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._timed("fetchrow", sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._timed("fetchval", sql, args)

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._timed("execute", sql, args)

    def transaction(self) -> Any:
        return self._conn.transaction()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@dataclass
class Explained:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of one statement: its times and the plan nodes that took the most."""

    read: str
    what: str
    planning_ms: float
    execution_ms: float
    top: list[tuple[str, float]]
    shared_hit: int = 0
    shared_read: int = 0


@dataclass
class Steps:
    """Median milliseconds of each step of each read (in process), and the explained statements."""

    medians: dict[str, dict[str, float]] = field(default_factory=dict)
    statements: dict[str, float] = field(default_factory=dict)  # read -> median statements a read
    explained: list[Explained] = field(default_factory=list)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)


def _node_label(node: dict[str, Any]) -> str:
    label = str(node.get("Node Type", "?"))
    if node.get("Relation Name"):
        label += f" on {node['Relation Name']}"
    if node.get("Index Name"):
        label += f" using {node['Index Name']}"
    if node.get("CTE Name"):
        label += f" of {node['CTE Name']}"
    if node.get("Subplan Name"):
        label = f"{node['Subplan Name']}: {label}"
    return label


def plan_hotspots(plan: dict[str, Any], top: int = 3, key: str = "Actual Total Time") -> list[tuple[str, float]]:
    """The plan nodes with the most time (or ``key``) of their own: theirs over all loops, less their children's."""
    found: list[tuple[str, float]] = []

    def walk(node: dict[str, Any]) -> None:
        children = node.get("Plans", [])
        total = node.get(key, 0.0) * node.get("Actual Loops", 1)
        inner = sum(c.get(key, 0.0) * c.get("Actual Loops", 1) for c in children)
        found.append((_node_label(node), max(0.0, total - inner)))
        for child in children:
            walk(child)

    walk(plan["Plan"])
    found.sort(key=lambda item: -item[1])
    return found[:top]


EXPLAIN_TIMEOUT = "300s"
"""How long an EXPLAIN ANALYZE may run: past the API's statement timeout, to see where a read that hits it spends."""


async def explain(conn: Any, read: str, what: str, statement: Statement, before: Sequence[Statement]) -> Explained:
    """EXPLAIN ANALYZE of ``statement`` in a transaction that first runs the ``SET LOCAL``s the read ran before it.

    When even ``EXPLAIN_TIMEOUT`` is not enough, the plan without ANALYZE: where the planner expects the cost.
    """

    async def plan_of(options: str) -> dict[str, Any]:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL statement_timeout = '{EXPLAIN_TIMEOUT}'")
            for earlier in before:
                if earlier.method == "execute" and earlier.sql.lstrip().upper().startswith("SET LOCAL"):
                    await conn.execute(earlier.sql)
            raw = await conn.fetchval(f"EXPLAIN ({options}, FORMAT JSON) " + statement.sql, *statement.args)
        found: dict[str, Any] = (msgspec.json.decode(raw) if isinstance(raw, str) else raw)[0]
        return found

    try:
        plan = await plan_of("ANALYZE, BUFFERS")
    except asyncpg.QueryCanceledError:
        plan = await plan_of("COSTS")
        return Explained(
            read=read,
            what=f"{what} (EXPLAIN ANALYZE ran past {EXPLAIN_TIMEOUT}: the planner's estimates, in cost units)",
            planning_ms=0.0,
            execution_ms=math.nan,
            top=plan_hotspots(plan, key="Total Cost"),
        )
    top_node = plan["Plan"]
    return Explained(
        read=read,
        what=what,
        planning_ms=plan.get("Planning Time", 0.0),
        execution_ms=plan.get("Execution Time", 0.0),
        top=plan_hotspots(plan),
        shared_hit=int(top_node.get("Shared Hit Blocks", 0)),
        shared_read=int(top_node.get("Shared Read Blocks", 0)),
    )


class StepClock:
    """Times the steps of reads in process: medians by read and step, SQL apart from Python, slowest statements."""

    def __init__(self, conn: TimedConnection) -> None:
        self.conn = conn
        self.steps: dict[str, dict[str, list[float]]] = {}
        self.statements: dict[str, list[int]] = {}
        self.slowest: dict[str, tuple[Statement, list[Statement]]] = {}
        """Each read's slowest statement, with those the read ran before it (their ``SET LOCAL``s)."""
        self.failures: dict[str, dict[str, int]] = {}
        """Reads that failed in process (the statement timeout), by read and kind: that kind is not asked again."""

    async def attempt(self, read: str, kind: str, work: Awaitable[None]) -> None:
        """Run one read's steps; a PostgreSQL error is counted, and its kind not asked again."""
        if kind in self.failures.get(read, {}):
            work.close()  # type: ignore[attr-defined]
            return
        try:
            await work
        except asyncpg.PostgresError as e:
            console.print(f"[yellow]  in process, {read} ({kind}) failed: {type(e).__name__}: {e}[/]")
            self.failures.setdefault(read, {})[kind] = self.failures.get(read, {}).get(kind, 0) + 1

    def note(self, read: str, step: str, ms: float) -> None:
        self.steps.setdefault(read, {}).setdefault(step, []).append(ms)

    async def step(self, read: str, step: str, work: Awaitable[T]) -> T:
        started = time.perf_counter()
        value = await work
        self.note(read, step, (time.perf_counter() - started) * 1000)
        return value

    def step_now(self, read: str, step: str, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        value = work()
        self.note(read, step, (time.perf_counter() - started) * 1000)
        return value

    async def main(self, read: str, name: str, work: Callable[[Any], Awaitable[T]]) -> T:
        """The read's own work on the timed connection: its SQL (each statement) and the Python around it."""
        self.conn.statements.clear()
        started = time.perf_counter()
        try:
            value = await work(self.conn)
        finally:
            # A statement that failed (the statement timeout) is the slowest: EXPLAIN shows why.
            done = list(self.conn.statements)
            if done:
                at = max(range(len(done)), key=lambda i: done[i].ms)
                if read not in self.slowest or done[at].ms > self.slowest[read][0].ms:
                    self.slowest[read] = (done[at], done[:at])
        total = (time.perf_counter() - started) * 1000
        sql = sum(s.ms for s in done)
        self.note(read, f"{name}: SQL ({len(done)} statement(s), waiting for PostgreSQL)", sql)
        self.note(read, f"{name}: Python (rows → answer)", total - sql)
        self.statements.setdefault(read, []).append(len(done))
        return value

    def medians(self) -> dict[str, dict[str, float]]:
        return {read: {step: statistics.median(v) for step, v in by.items()} for read, by in self.steps.items()}


async def measure_steps(ctx: Context) -> Steps:
    """Each read's steps with the API's own functions, in this process, median over ``--step-requests`` reads."""
    from infra.db import create_app_pool, tenant_connection

    store = ctx.store
    rng = random.Random(ctx.args.seed + 1)
    count = ctx.args.step_requests
    pool = await create_app_pool(settings_for(store.database_url, store.master_key), min_size=1, max_size=2)
    explained: list[Explained] = []
    try:
        async with tenant_connection(pool, store.big.programme_id) as raw:
            clock = StepClock(TimedConnection(raw))
            by_group: dict[str, tuple[Statement, list[Statement]]] = {}
            participants = participant_reads(rng, store, count)
            with make_progress() as progress:
                task = progress.add_task("in process: each step", total=None)
                for read in outcome_reads(rng, store, count):
                    await clock.attempt("outcomes, staff", read.kind, staff_outcomes_in_steps(clock, raw, store, read))
                    progress.advance(task)
                for read in funder_outcome_reads(ctx.periods, count if ctx.periods else 0):
                    await clock.attempt(
                        "outcomes, funder", read.kind, funder_outcomes_in_steps(clock, raw, store, read)
                    )
                    progress.advance(task)
                for read in dashboard_reads(rng, store, max(count, len(GROUP_BYS))):
                    clock.conn.statements.clear()
                    await clock.attempt("dashboard, staff", read.kind, dashboard_in_steps(clock, raw, store, read))
                    if clock.conn.statements:
                        by_group.setdefault(read.kind, (clock.conn.statements[-1], clock.conn.statements[:-1]))
                    progress.advance(task)
                counselors = store.big.counselor_ids[: max(1, ctx.args.counselors)]
                for n in range(count):
                    work = follow_ups_in_steps(clock, raw, store, counselors[n % len(counselors)])
                    await clock.attempt("follow-ups, one counselor", "counselor", work)
                    progress.advance(task)
                for read in participants:
                    work = participant_view_in_steps(clock, raw, store, read)
                    await clock.attempt(f"participant {read.kind}", read.kind, work)
                    progress.advance(task)
            # The dashboard's statements are explained under each grouping below, its slowest among them.
            for name, (statement, before) in clock.slowest.items():
                if name != "dashboard, staff":
                    explained.append(await explain(raw, name, "its slowest statement", statement, before))
            for kind, (statement, before) in by_group.items():
                explained.append(
                    await explain(raw, "dashboard, staff", f"response_rates.sql, group_by {kind}", statement, before)
                )
    finally:
        await pool.close()
    return Steps(
        medians=clock.medians(),
        statements={read: statistics.median(v) for read, v in clock.statements.items()},
        explained=explained,
        failures=clock.failures,
    )


async def _settings_and_position(clock: StepClock, raw: Any, store: BenchStore, read: str) -> tuple[Any, Any]:
    """The two look-ups every read starts with, as the API makes them."""
    from services.api.reading_routes import programme_settings, report_position

    settings = await clock.step(read, "programme settings (1 query)", programme_settings(raw, store.big.programme_id))
    at = await clock.step(read, "report position (P, H): horizon, checkpoint, pin", report_position(raw, None))
    return settings, at


async def staff_outcomes_in_steps(clock: StepClock, raw: Any, store: BenchStore, read: Read) -> None:
    """``GET /v1/reports/outcomes`` as staff: what ``build_outcome_report`` does, step by step."""
    from domain.reporting.scope import ReportParams
    from projections.outcome_queries import outcome_report
    from projections.outcome_reports import report_body

    name = "outcomes, staff"
    settings, at = await _settings_and_position(clock, raw, store, name)
    params = ReportParams(
        from_date=dt.date.fromisoformat(read.params["from"]),
        to_date=dt.date.fromisoformat(read.params["to"]),
        as_of=dt.date.fromisoformat(read.params["as_of"]),
        time_zone=settings.time_zone,
        as_of_position=at.position,
        as_of_horizon=at.horizon,
    )
    programme_id = store.big.programme_id
    report = await clock.main(
        name, "outcome_report (outcome_groups.sql)", lambda conn: outcome_report(conn, programme_id, params)
    )

    def body() -> dict[str, Any]:
        return report_body(
            report,
            params,
            programme_id=programme_id,
            audience="staff",
            suppress_below=settings.suppress_below,
            global_position=at.position,
        )

    answer = clock.step_now(name, "report_body (cells, hash)", body)
    clock.step_now(name, "JSON encoding", lambda: msgspec.json.encode(answer))


async def funder_outcomes_in_steps(clock: StepClock, raw: Any, store: BenchStore, read: Read) -> None:
    """``GET /v1/reports/outcomes?period=`` as a funder: the kept release, as released."""
    from projections.releases import released

    name = "outcomes, funder"
    release = await clock.step(
        name, "released(): the kept release (1 query)", released(raw, store.big.programme_id, read.params["period"])
    )
    assert release is not None
    clock.step_now(name, "JSON encoding", lambda: msgspec.json.encode(release.outcomes))


async def dashboard_in_steps(clock: StepClock, raw: Any, store: BenchStore, read: Read) -> None:
    """``GET /v1/dashboards/response-rates`` as staff: what ``build_response_rates`` does, step by step."""
    from domain.reporting.scope import ReportParams
    from domain.reporting.suppression import response_rate_cells
    from projections.response_rate_queries import response_rates_at

    name = "dashboard, staff"
    settings, at = await _settings_and_position(clock, raw, store, name)
    params = ReportParams(
        from_date=dt.date.fromisoformat(read.params["from"]),
        to_date=dt.date.fromisoformat(read.params["to"]),
        as_of=dt.date.fromisoformat(read.params["as_of"]),
        time_zone=settings.time_zone,
        as_of_position=at.position,
        as_of_horizon=at.horizon,
    )
    group_by: Any = read.params.get("group_by")
    rates = await clock.main(
        name,
        "response_rates_at (response_rates.sql)",
        lambda conn: response_rates_at(conn, store.big.programme_id, params, group_by),
    )
    cells = clock.step_now(name, "cells", lambda: response_rate_cells(rates))
    clock.step_now(name, "JSON encoding", lambda: msgspec.json.encode(cells))


async def follow_ups_in_steps(clock: StepClock, raw: Any, store: BenchStore, counselor: uuid.UUID) -> None:
    """``GET /v1/follow-ups`` as a counselor: ``follow_ups_at`` over the counselor's caseload, as of today."""
    from domain.reporting.follow_ups import FollowUpParams
    from projections.participant_views import follow_ups_at

    name = "follow-ups, one counselor"
    settings, at = await _settings_and_position(clock, raw, store, name)
    params = FollowUpParams(
        as_of=dt.datetime.now(settings.time_zone).date(),
        time_zone=settings.time_zone,
        as_of_position=at.position,
        as_of_horizon=at.horizon,
        counselor_id=counselor,
        follow_up_after_days=settings.follow_up_after_days,
    )
    items = await clock.main(
        name,
        "follow_ups_at (caseload.sql, load_facts_of by 200, follow_up_queue)",
        lambda conn: follow_ups_at(conn, store.big.programme_id, params),
    )
    clock.step_now(name, "JSON encoding", lambda: msgspec.json.encode(items))


async def participant_view_in_steps(clock: StepClock, raw: Any, store: BenchStore, read: Read) -> None:
    """``GET /v1/participants/{id}/<view>`` as staff, step by step (the access-log row included)."""
    from domain.reporting.pipeline import participant_pipeline
    from domain.reporting.relationships import relationships, timeline
    from domain.reporting.snapshot import ViewParams
    from infra.access_log import record_access
    from projections.read_models import load_facts_of

    views: dict[str, Callable[..., Any]] = {
        "timeline": timeline,
        "relationships": relationships,
        "pipeline": participant_pipeline,
    }
    name = f"participant {read.kind}"
    programme_id = store.big.programme_id
    participant = uuid.UUID(read.path.split("/")[3])
    await clock.step(
        name,
        "participant exists (streams, 1 query)",
        raw.fetchval(
            "SELECT NOT removed FROM streams WHERE programme_id = $1 AND stream_id = $2",
            programme_id,
            f"participant-{participant}",
        ),
    )
    settings, at = await _settings_and_position(clock, raw, store, name)
    params = ViewParams(
        as_of=dt.datetime.now(settings.time_zone).date(),
        time_zone=settings.time_zone,
        as_of_position=at.position,
        as_of_horizon=at.horizon,
    )
    facts = await clock.main(
        name,
        "load_facts_of (the participant's rows and the contact directory)",
        lambda conn: load_facts_of(conn, programme_id, [participant]),
    )
    answer = clock.step_now(name, f"{read.kind}() over the facts", lambda: views[read.kind](facts, participant, params))
    clock.step_now(name, "JSON encoding", lambda: msgspec.json.encode(answer))
    await clock.step(
        name,
        "access-log row (1 INSERT, committed)",
        record_access(
            raw,
            programme_id=programme_id,
            user_id=store.big.admin_id,
            role="staff",
            participant_id=participant,
            action=f"bench-{read.kind}",
            request_id=uuid.uuid4(),
        ),
    )


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _cores(cpu: dict[str, float], seconds: float) -> str:
    if not cpu or seconds <= 0:
        return ""
    names = {
        "bench": "bench",
        "server": "API",
        "worker": "worker",
        "postgres": "PG",
        "redis": "Redis",
        "other": "other",
    }
    return " · ".join(
        f"{label} {cpu[key] / seconds:.2f}"
        for key, label in names.items()
        if key in cpu and (key in ("bench", "server", "postgres", "other") or cpu[key] / seconds >= 0.005)
    )


@dataclass
class Reads:
    """Everything this run measured."""

    store: BenchStore | None = None
    analyzed_seconds: float = 0.0
    releases_ms: list[float] = field(default_factory=list)
    counselors: int = 0
    series: list[Series] = field(default_factory=list)
    steps: Steps | None = None
    run: Run = field(default_factory=Run)

    def get(self, key: str) -> Series | None:
        return next((s for s in self.series if s.key == key), None)


def _where(steps: Steps | None, read: str) -> str:
    if steps is None or read not in steps.medians:
        return ""
    by_step = steps.medians[read]
    # The biggest steps, in the order the read takes them; the steps table below lists them all.
    biggest = set(sorted(by_step, key=lambda step: -by_step[step])[:3])
    parts = [f"{step} {ms:,.1f}" for step, ms in by_step.items() if step in biggest]
    return f"in process, the biggest steps (median ms): {'; '.join(parts)} of {sum(by_step.values()):,.1f} in all"


def _execution(e: Explained) -> str:
    return f"past {EXPLAIN_TIMEOUT}" if math.isnan(e.execution_ms) else f"{e.execution_ms:,.1f}"


def _explained(steps: Steps | None, read: str) -> str:
    """The read's slowest statement as EXPLAIN ANALYZE saw it (one that ran past its timeout first)."""
    if steps is None:
        return ""
    mine = [e for e in steps.explained if e.read == read]
    if not mine:
        return ""
    e = max(mine, key=lambda e: math.inf if math.isnan(e.execution_ms) else e.execution_ms)
    unit = "" if math.isnan(e.execution_ms) else " ms"
    hot = ", ".join(f"{label} {ms:,.1f}{unit}" for label, ms in e.top)
    return f"EXPLAIN ANALYZE of {e.what}: execution {_execution(e)} ms; the most of it in {hot}"


def aims(reads: Reads) -> list[tuple[str, str, str, str, str, str]]:
    """(figure, measured, aim, verdict, CPU cores busy, where the time goes) for every aim this run can judge."""
    store = reads.store
    events = store.big.events if store is not None else 0
    rows: list[tuple[str, str, str, str, str, str]] = []

    def add(key: str, value: float | None, measured: str, cpu: str, where: str, series: Series | None = None) -> None:
        aim = AIMS[key]
        ok = aim.met(value, events)
        if series is not None and series.errors:
            ok = False
            measured += f"; **{sum(series.errors.values())} failed**: " + ", ".join(
                f"{what} ×{n}" for what, n in series.errors.items()
            )
            if series.given_up:
                measured += f" ({', '.join(series.given_up)} left out after that: {series.skipped} reads not asked)"
        rows.append((aim.figure, measured, aim.text(events), verdict(ok), cpu, where))

    for key, series_keys, reads_named in (
        ("outcomes", ("outcomes_staff", "outcomes_funder"), ("outcomes, staff", "outcomes, funder")),
        ("dashboard", ("dashboard_staff",), ("dashboard, staff",)),
        ("follow_ups", ("follow_ups", "follow_ups_cold"), ("follow-ups, one counselor", "follow-ups, one counselor")),
    ):
        for series_key, read in zip(series_keys, reads_named, strict=True):
            s = reads.get(series_key)
            if s is None:
                continue
            p95 = s.p(0.95)
            add(
                key,
                p95,
                f"{s.audience}: {_fmt(p95)} ms (p50 {_fmt(s.p(0.5))}, max {_fmt(max(s.latencies, default=None))}; "
                f"{len(s.latencies)} requests)",
                _cores(s.cpu, s.seconds),
                "; ".join(x for x in (s.note, _where(reads.steps, read), _explained(reads.steps, read)) if x),
                s,
            )
    s = reads.get("participant")
    if s is not None:
        worst = max((s.p(0.95, v) or 0.0) for v in VIEWS)
        add(
            "participant",
            worst,
            ", ".join(f"{v} {_fmt(s.p(0.95, v))} ms" for v in VIEWS)
            + f" (p50 {', '.join(_fmt(s.p(0.5, v)) for v in VIEWS)}; "
            f"{len(s.by_kind.get('timeline', []))} participants)",
            _cores(s.cpu, s.seconds),
            " / ".join(f"{v}: {_where(reads.steps, f'participant {v}')}" for v in VIEWS if reads.steps),
            s,
        )
    s = reads.get("mixed")
    if s is not None:
        add(
            "rss",
            s.rss_end_mb,
            f"{s.rss_end_mb:,.0f} MB (after the first request {s.rss_after_first_mb:,.0f} MB, "
            f"peak {s.peak_mb:,.0f} MB; "
            f"{len(s.latencies):,} reads in {s.seconds:.0f} s)",
            _cores(s.cpu, s.seconds),
            "VmRSS (VmHWM for the peak) of the API process from /proc",
            s,
        )
    firsts = [x for x in reads.series if x.first_ms is not None]
    if firsts:
        worst_first = max(firsts, key=lambda x: x.first_ms or 0.0)
        add(
            "first",
            worst_first.first_ms,
            "the worst of: "
            + ", ".join(f"{x.first_what} {_fmt(x.first_ms)} ms (then p50 {_fmt(x.p(0.5))})" for x in firsts),
            "",
            "each series' API process: started, /health answered, then its first read timed alone; against the "
            "same read's p50 later in the process, what the start costs (the processes answered /health "
            f"{min(x.startup_seconds for x in firsts):.1f}–{max(x.startup_seconds for x in firsts):.1f} s after "
            "their start)",
        )
    run = reads.run
    c = run.catchup
    if c is not None:
        per = ", ".join(f"{name} {n / sec:,.0f} events/s" for name, (n, sec) in c.per_projection.items() if sec)
        add(
            "catchup",
            c.rate,
            f"{c.rate:,.0f} events/s ({c.events:,} events in {c.seconds:.0f} s; {per}"
            + (f"; {c.horizon_waits} waits for another session's transaction" if c.horizon_waits else "")
            + ")",
            _cores(c.cpu, c.seconds),
            f"read + decode alone {c.read_rate:,.0f} events/s ({_cores(c.read_cpu, c.read_seconds)})",
        )
    f = run.freshness
    if f is not None:
        p95 = pct(f.samples, 0.95)
        add(
            "freshness",
            p95 if f.unseen == 0 else None,
            f"{_fmt(p95)} ms (p50 {_fmt(pct(f.samples, 0.5))}, max {_fmt(max(f.samples, default=None))}; "
            f"{len(f.samples):,} samples, {f.unseen} never seen; achieved {f.rate:,.0f} appends/s)",
            _cores(f.cpu, f.seconds),
            f"dashboard poll p50 {_fmt(pct(f.poll_ms, 0.5))} ms (the resolution); POST p50 "
            f"{_fmt(pct(f.append_ms, 0.5))} ms, p95 {_fmt(pct(f.append_ms, 0.95))} ms",
        )
    for m in run.memory:
        add(
            "rebuild",
            m.rebuild_peak_mb,
            f"{m.rebuild_peak_mb:,.0f} MB ({m.events:,} events in {m.rebuild_seconds:.0f} s, "
            f"{m.events / m.rebuild_seconds:,.0f} events/s)",
            "",
            f"VmHWM of the process, read every 50 ms; the worker meanwhile {m.worker_max_mb:,.0f} MB",
        )
    return rows


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def heading(reads: Reads) -> str:
    """The results section of this store's size: one for 1M events, one for 10M, each rewritten by its own run."""
    store = reads.store
    assert store is not None
    return f"{SECTION}, {store.big.events / 1_000_000:,.0f}M events"


def section(args: argparse.Namespace, reads: Reads, command: str, notes: str) -> str:
    info = STORES_INFO
    store = reads.store
    assert store is not None
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        heading(reads),
        "",
        f"Measured {when} with `{command}`, {code_under_test()}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; the bench, the API server, the worker and PostgreSQL share the cores.",
        f"- PostgreSQL {info.get('version', '?')}: fsync={info.get('fsync', '?')}, "
        f"synchronous_commit={info.get('synchronous_commit', '?')}, shared_buffers={info.get('shared_buffers', '?')}, "
        f"work_mem={info.get('work_mem', '?')} (read from the server; the bench changes nothing).",
        f"- Store: {describe_store(store)}. Projections of the registry: {', '.join(PROJECTIONS)}; their tables "
        f"analysed (VACUUM ANALYZE, {reads.analyzed_seconds:.0f} s, untimed) after the catch-up, as autovacuum "
        "leaves a store at rest.",
        f"- Each series of reads from its own freshly started `peoplelinks api --workers {args.api_workers}` "
        "(worker not running: the read models are caught up and nothing is appended): the process started, "
        '`/health` answered, its first read timed alone (the "first request" figure; the only warm-up), then '
        f"the series, one request at a time (latency, not throughput). {args.requests} reads a series"
        + (" (3 a participant: timeline, relationships, pipeline)" if "participant" in args.only else "")
        + ". Staff outcome reports over the whole span (enrolments from "
        f"{first_day()} to `as_of`, a day of the store's last 30); dashboards over a year up to such a day, "
        "grouped by nothing, channel, purpose, attempt, cohort, week and counselor in turn; the follow-up queue "
        f"as each of {reads.counselors} counselors in turn, "
        "as of today; participant views of participants drawn at random, as of today.",
        "- Funders read released quarters only: an admin released "
        + (
            f"{len(reads.releases_ms)} quarters first (`POST /v1/reports/releases`, p50 "
            f"{_fmt(pct(reads.releases_ms, 0.5), 0)} ms, max {_fmt(max(reads.releases_ms, default=None), 0)} ms "
            "each: it computes the funder editions of the outcome report and of six dashboards), then the funder "
            "asked `GET /v1/reports/outcomes?period=YYYY-Qn` (and the released dashboards) for each in turn."
            if reads.releases_ms
            else "no quarter (none was over)."
        ),
        "- Where the time goes: each read again in this process with the API's own functions "
        f"({args.step_requests} of each kind; the dashboard under every grouping), each SQL statement timed through "
        "the connection (the time waiting for PostgreSQL, round trip included), the rest of the read's function "
        "counted as Python; then `EXPLAIN (ANALYZE, BUFFERS)` of each read's slowest statement (and of the "
        "dashboard's under each grouping), after the `SET LOCAL`s it ran under. EXPLAIN ANALYZE's per-node timing "
        "costs time of its own: read its nodes for shares, not for the request's time.",
        "- CPU cores busy: CPU seconds used during the series over its wall time, from /proc: the bench, the API "
        "process, our database's PostgreSQL backends, and `other`: everything else on the machine (PostgreSQL's "
        "parallel workers, other processes).",
        "",
        "| figure | measured | aim | verdict | CPU cores busy | where the time goes |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {' | '.join(row)} |" for row in aims(reads)],
        "",
        "| series (fresh API each) | audience | reads | failed | first request ms | p50 ms | p95 ms | max ms "
        "| mean KB | API RSS after MB | CPU cores busy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in reads.series:
        size = statistics.mean(s.sizes) / 1024 if s.sizes else 0.0
        failed = f"{sum(s.errors.values())}" + (f" ({s.skipped} not asked)" if s.skipped else "")
        lines.append(
            f"| {s.label} | {s.audience} | {len(s.latencies):,} | {failed} "
            f"| {_fmt(s.first_ms)} | {_fmt(s.p(0.5))} "
            f"| {_fmt(s.p(0.95))} | {_fmt(max(s.latencies, default=None))} | {size:,.1f} | {s.rss_end_mb:,.0f} "
            f"| {_cores(s.cpu, s.seconds)} |"
        )
    split = [(s, kind) for s in reads.series if s.key in ("dashboard_staff", "participant") for kind in s.by_kind]
    if split:
        explained = {
            e.what.removeprefix("response_rates.sql, group_by ").split(" ")[0]: e
            for e in (reads.steps.explained if reads.steps else [])
            if e.what.startswith("response_rates.sql, group_by ")
        }
        lines += [
            "",
            "| series | by | reads | p50 ms | p95 ms | max ms | EXPLAIN ANALYZE execution ms |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s, kind in split:
            e = explained.get(kind) if s.key == "dashboard_staff" else None
            lines.append(
                f"| {s.key} | {kind} | {len(s.by_kind[kind])} | {_fmt(s.p(0.5, kind))} | {_fmt(s.p(0.95, kind))} "
                f"| {_fmt(max(s.by_kind[kind]))} | {_execution(e) if e else ''} |"
            )
    if reads.steps is not None:
        lines += [
            "",
            "### Where a read's time goes (in process, the API's own functions, median ms)",
            "",
            "| read | step | median ms |",
            "| --- | --- | ---: |",
        ]
        for read, by_step in reads.steps.medians.items():
            for step, ms in by_step.items():
                lines.append(f"| {read} | {step} | {ms:,.1f} |")
        lines += [
            "",
            "| EXPLAIN (ANALYZE, BUFFERS) | statement | planning ms | execution ms | buffers hit / read "
            "| plan nodes with the most time of their own |",
            "| --- | --- | ---: | ---: | --- | --- |",
        ]
        for e in reads.steps.explained:
            unit = "" if math.isnan(e.execution_ms) else " ms"
            hot = "; ".join(f"{label} {ms:,.1f}{unit}" for label, ms in e.top)
            lines.append(
                f"| {e.read} | {e.what} | {e.planning_ms:,.1f} | {_execution(e)} "
                f"| {e.shared_hit:,} / {e.shared_read:,} | {hot} |"
            )
        for read, kinds in reads.steps.failures.items():
            for kind, n in kinds.items():
                lines.append(f"| {read} | failed in process ({kind}), not asked again: {n} | | | | |")
    proj_rows = projection_aims(reads.run)
    if proj_rows:
        lines += [
            "",
            "### Catch-up, freshness, rebuild (`bench/projections.py`'s phases, as it reports them)",
            "",
            "| figure | measured | aim | verdict | where the time (or memory) goes |",
            "| --- | --- | --- | --- | --- |",
            *[f"| {' | '.join(row)} |" for row in proj_rows],
        ]
    lines.append("")
    if notes:
        lines += [notes, ""]
    return "\n".join(lines)


def print_aims(reads: Reads) -> None:
    table = Table(title="Reads")
    for column in ("figure", "measured", "aim", "verdict", "cores"):
        table.add_column(column)
    for figure, measured, aim, ok, cores, _ in aims(reads):
        table.add_row(figure, measured, aim, ok.replace("**", ""), cores)
    console.print(table)


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reads",
        description="Reads from the read models (outcome report, dashboard, follow-ups, participant views, memory, "
        "first request), catch-up, freshness and rebuild memory, over the generated store of bench/projections.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_store_arguments(parser)
    add_phase_arguments(parser)
    parser.set_defaults(small_events=0)  # the rebuild's memory on the store measured, no second store
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {', '.join(PHASES)}")
    parser.add_argument("--requests", type=int, default=100, help="timed reads a series (participants: 3 each)")
    parser.add_argument("--mixed", type=int, default=1_000, help="reads of the mixed series (then the API's RSS)")
    parser.add_argument("--counselors", type=int, default=20, help="counselors whose queues are read, in turn")
    parser.add_argument("--step-requests", type=int, default=20, help="reads of each kind timed step by step")
    parser.add_argument(
        "--max-errors", type=int, default=3, help="leave a kind of read out of a series after this many failures"
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in (
            ("participants", 100),
            ("requests", 10),
            ("mixed", 30),
            ("counselors", 2),
            ("step_requests", 3),
            ("fresh_rate", 100.0),
            ("fresh_seconds", 4.0),
            ("fresh_sample", 5),
            ("quiet_wait", 0.0),
        ):
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
        args.validate = True
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    QUIET["limit_seconds"] = args.quiet_wait
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = phases - set(PHASES)
    if unknown:
        console.print(f"[red]unknown phases: {', '.join(sorted(unknown))}[/]")
        return 2
    suffix = uuid.uuid4().hex[:8]
    redis_prefix = f"plbench:{suffix}"
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"plbench-{suffix}"
    log_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"logs in {log_dir}")
    reads = Reads()
    started = time.monotonic()
    try:
        reads.store = store = run_async(open_or_build(args))
        console.print(f"store: {describe_store(store)}")
        reads.run.store = store
        # The catch-up first: it empties the read models and fills them again, which the reads then use.
        # Without the catch-up phase, run_phases still brings every projection level with the store (untimed).
        run_phases(_phase_args(args, "catchup" if "catchup" in phases else ""), reads.run, log_dir, redis_prefix)
        run_async(level_with_the_store(store))
        reads.analyzed_seconds = run_async(analyze_read_models(store))
        if phases & {*READS, "steps"}:
            measure_all_reads(reads, args, store, phases, redis_prefix, log_dir)
        wanted = ",".join(p for p in ("freshness", "memory") if p in phases)
        if wanted:
            try:
                run_phases(_phase_args(args, wanted), reads.run, log_dir, redis_prefix)
            except Exception as e:  # the figures measured so far are still worth writing
                console.print(f"[red]{wanted} broke off: {e!r}[/]")
    finally:
        if reads.store is not None and not args.database:
            if args.keep:
                console.print(f"kept database [bold]{reads.store.db_name}[/] (reuse it with --database)")
            else:
                run_async(drop_database(args.dsn, reads.store.db_name))
        run_async(drop_redis_keys(SimpleNamespace(redis_prefix=redis_prefix)))  # type: ignore[arg-type]
    console.print(f"whole run {time.monotonic() - started:.0f} s")
    print_aims(reads)
    command = "python -m bench.reads " + " ".join(sys.argv[1:] if argv is None else argv)
    results_path = args.results
    if results_path is None and not args.quick:
        results_path = DEFAULT_RESULTS
    if results_path is not None and not args.no_results:
        text = section(args, reads, command.strip(), old_notes(results_path, heading(reads)))
        write_section(results_path, heading(reads), text)
        console.print(f"wrote {results_path}")
    return 0


def _phase_args(args: argparse.Namespace, only: str) -> argparse.Namespace:
    """``args`` for ``bench/projections.py``'s ``run_phases``, limited to the phases named in ``only``."""
    return argparse.Namespace(**{**vars(args), "only": only})


def measure_all_reads(
    reads: Reads, args: argparse.Namespace, store: BenchStore, phases: set[str], redis_prefix: str, log_dir: Path
) -> None:
    """Log in and release the quarters on one API process, then each series on a fresh one, then the steps."""
    run_async(forget_releases(store))
    secret = secrets.token_urlsafe(48)
    # Released only for the series that read them: a release's queries go on in PostgreSQL after its API
    # process is stopped, and at 10M they ran on into the next series (the participant views read 228 ms p50
    # beside them, with no release ~8 ms of it).
    funder_reads = bool(phases & {"outcomes", "dashboard", "mixed"})
    periods = complete_quarters(dt.date.today()) if funder_reads else []
    api, base_url = start_api(store, redis_prefix, secret, log_dir, args.api_workers)
    try:
        run_async(wait_ready(api, base_url))
        console.print(f"logging in and releasing {len(periods)} quarter(s) to funders")
        tokens, releases_ms = run_async(log_in_and_release(store, base_url, args.counselors, periods))
    except BaseException:
        console.print(f"[red]API log:[/]\n{api.log_tail()}")
        raise
    finally:
        api.stop()
    ctx = Context(store, args, tokens, periods, redis_prefix, secret, log_dir)
    reads.releases_ms = releases_ms
    reads.counselors = len(ctx.counselors)
    reads.series = measure_reads(ctx, phases)
    if "steps" in phases:
        try:
            reads.steps = run_async(measure_steps(ctx))
        except Exception as e:  # the figures measured so far are still worth writing
            console.print(f"[red]the steps phase broke off: {e!r}[/]")


if __name__ == "__main__":
    sys.exit(main())
