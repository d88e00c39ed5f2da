"""Append throughput: PeopleLinks over HTTP, its event store directly, the eventsourcing library, plain INSERT.

A benchmark, not a test. It makes its own databases on the PostgreSQL server
named by ``--dsn`` (``plbench_<random>`` for PeopleLinks and the plain table,
``plbench_<random>_es`` for the eventsourcing library), migrates, creates a
programme with a counselor, pre-creates contacts and participants, runs every
scenario with a fixed number of events, prints a table and writes it to
``bench/RESULTS.md`` (section "Appends (bench/append.py)"; other sections are
kept). The databases are dropped at the end unless ``--keep``.

PostgreSQL's durability settings are read, reported and never changed.

Scenarios (all append ``outreach_sent`` events to existing participant streams):

- ``http_single``: one event a ``POST /v1/participants/{id}/events``, 16 clients;
- ``http_batch``: ``POST /v1/events:batch`` with 1,000 events a request;
  both against a real ``peoplelinks api`` server process, once per ``--workers`` value;
- ``store``: ``EventStore.append`` in transactions of 100 events, 8 connections (no rules);
- ``es_batch`` / ``es_single``: the ``eventsourcing`` library's PostgreSQL
  persistence (``Application.save``), 100 events a save from 8 threads, and one
  event a save from 16 threads;
- ``plain``: multi-row ``INSERT`` of the same columns into a table with only a
  bigserial primary key, 8 connections, 100 rows a statement (the ceiling);
- ``plain_indexed``: the same into a table with the events table's indexes
  (for reading where the store's time goes; no aim attached).

Run: ``python -m bench.append`` (about four minutes), ``python -m bench.append --quick`` (smoke check).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import inspect
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from domain.events import ContactAdded, OutreachSent, ParticipantEnrolled, Profile, encode_data
from infra import db as infra_db
from infra.accounts import create_programme, create_user
from infra.db import create_app_pool
from infra.event_store import EventStore, Metadata, NewEvent, StreamAppend
from infra.migrate import migrate
from infra.settings import Settings
from services.recording import IncomingEvent, Recorder

# Row-level security: a connection acts for one programme (application code from 2026-11-22 on).
_tenant_connection = getattr(infra_db, "tenant_connection", None)

try:
    from eventsourcing.application import Application as _EsApplication
    from eventsourcing.domain import Aggregate as _EsAggregate
    from eventsourcing.domain import event as _es_event
except ImportError:  # pip install -e '.[bench]'
    _EsApplication = _EsAggregate = None  # type: ignore[assignment,misc]

SECTION = "## Appends (bench/append.py)"
NOTES_START = "<!-- notes:start -->"
NOTES_END = "<!-- notes:end -->"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
ADMIN_PASSWORD = "bench-password-" + secrets.token_hex(8)
SCENARIOS = (
    "http_floor",
    "http_single",
    "http_batch",
    "store",
    "es_batch",
    "es_single",
    "plain",
    "plain_indexed",
    "recorder_single",
    "store_single",
)

AIM_HTTP_BATCH = 15_000
AIM_HTTP_SINGLE = 2_000
AIM_STORE_SHARE = 0.60

console = Console() if sys.stdout.isatty() else Console(width=180)
_JSON = msgspec.json.Encoder()


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    """One measured scenario."""

    key: str
    label: str
    events: int
    seconds: float
    concurrency: str
    batch: int
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""
    workers: int | None = None
    tries: list[float] = field(default_factory=list)
    """Other processes' load (cores) in each try, when the phase had to be measured again."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def p50(self) -> float | None:
        return self.percentile(0.50)

    @property
    def p95(self) -> float | None:
        return self.percentile(0.95)

    def cpu_cores(self) -> str:
        """CPU used during the timed phase, in cores busy, by whom."""
        if not self.cpu or self.seconds <= 0:
            return ""
        names = {"bench": "bench", "server": "API", "postgres": "PG", "redis": "Redis", "other": "other"}
        return " · ".join(
            f"{label} {self.cpu.get(key, 0.0) / self.seconds:.2f}"
            for key, label in names.items()
            if key != "server" or self.key.startswith("http")
            if key != "redis" or self.cpu.get(key, 0.0) / self.seconds >= 0.005
        )


# --------------------------------------------------------------------------- CPU accounting from /proc

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Set once the databases exist: PostgreSQL's postmaster, and the names of the bench's databases.
ACCOUNTING: dict[str, Any] = {"postmaster": None, "databases": ()}
_PG_AUXILIARY = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical replication", "wal writer")


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, comm, cpu seconds) for every process we can read."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(rest[1]), comm, (int(rest[11]) + int(rest[12])) / _TICK)
    return found


def _system_busy() -> float:
    """CPU seconds the whole machine has been busy (every process and the kernel)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _ours_in_postgres(pid: int) -> bool:
    """A backend of one of the bench's databases, or one of the cluster's own background processes."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(name in title for name in ACCOUNTING["databases"]) or any(a in title for a in _PG_AUXILIARY)


def cpu_snapshot(server_pid: int | None) -> dict[str, float]:
    """CPU seconds so far: the bench process, the server's process tree, our PostgreSQL processes, the machine."""
    stats = _proc_stats()
    times = os.times()
    snapshot = {"bench": times.user + times.system, "server": 0.0, "redis": 0.0, "system": _system_busy()}
    if server_pid is not None:
        tree = {server_pid}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _, _) in stats.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        snapshot["server"] = sum(stats[pid][2] for pid in tree if pid in stats)
    snapshot["redis"] = sum(cpu for _, comm, cpu in stats.values() if comm.startswith("redis-server"))
    postmaster = ACCOUNTING["postmaster"]
    # Per pid, so that backends that start during the run count from zero.
    for pid, (ppid, _, cpu) in stats.items():
        if postmaster is not None and ppid == postmaster and _ours_in_postgres(pid):
            snapshot[f"pg:{pid}"] = cpu
    return snapshot


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Seconds of CPU used between two snapshots; ``other`` is everything else the machine ran meanwhile."""
    used = {
        "bench": after["bench"] - before["bench"],
        "server": after["server"] - before["server"],
        "postgres": sum(cpu - before.get(key, 0.0) for key, cpu in after.items() if key.startswith("pg:")),
        "redis": after["redis"] - before["redis"],
    }
    used["other"] = max(0.0, after["system"] - before["system"] - sum(used.values()))
    return used


QUIET = {"limit_seconds": 60.0}


def settle(name: str) -> None:
    """Before a timed phase: give other work on the machine a chance to finish (see --quiet-wait)."""
    if QUIET["limit_seconds"] <= 0:
        return
    load = wait_for_quiet(QUIET["limit_seconds"])
    if load >= 0.3:
        console.print(f"[yellow]  {name}: other processes keep {load:.2f} cores busy; measuring anyway[/]")


RETRY = {"tries": 2, "threshold": 0.3}


def _noise(result: Result) -> float:
    """Cores that other processes kept busy during the result's timed phase."""
    return result.cpu.get("other", 0.0) / result.seconds if result.seconds > 0 else 0.0


def _keep_quietest(tries: list[Result]) -> Result:
    best = min(tries, key=_noise)
    best.tries = [_noise(t) for t in tries]
    return best


def _noisy(result: Result, tries: int) -> bool:
    if _noise(result) <= RETRY["threshold"] or tries >= RETRY["tries"]:
        return False
    console.print(f"[yellow]  {result.key}: other processes took {_noise(result):.2f} cores; measuring again[/]")
    return True


def quietest(run: Callable[[], Result]) -> Result:
    """Run a phase; again (up to --tries) while other processes took over 0.3 cores; keep the quietest."""
    tries = [run()]
    while _noisy(tries[-1], len(tries)):
        tries.append(run())
    return _keep_quietest(tries)


async def quietest_async(run: Callable[[], Awaitable[Result]]) -> Result:
    """``quietest`` for async phases."""
    tries = [await run()]
    while _noisy(tries[-1], len(tries)):
        tries.append(await run())
    return _keep_quietest(tries)


def wait_for_quiet(limit_seconds: float, threshold: float = 0.3) -> float:
    """Wait (at most ``limit_seconds``) until other processes use under ``threshold`` cores; their load then."""
    deadline = time.monotonic() + limit_seconds
    while True:
        before, started = _system_busy(), time.monotonic()
        time.sleep(1.0)
        load = (_system_busy() - before) / (time.monotonic() - started)
        if load < threshold or time.monotonic() >= deadline:
            return load


# --------------------------------------------------------------------------- progress


class RateColumn(ProgressColumn):
    """Events a second, over rich's recent samples."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>9,.0f} ev/s" if speed else " " * 14, style="cyan")


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<34}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=console,
        refresh_per_second=4,
    )


# --------------------------------------------------------------------------- profiling (optional)


@contextmanager
def profiled(profile_dir: Path | None, name: str, pid: int) -> Iterator[None]:
    """Sample ``pid`` (and its children) with py-spy while the block runs; collapsed stacks to ``profile_dir``."""
    if profile_dir is None:
        yield
        return
    profile_dir.mkdir(parents=True, exist_ok=True)
    out = profile_dir / f"{name}.txt"
    spy = subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # let py-spy attach before the timed phase
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
        console.print(f"  profile of {name}: {out}")


# --------------------------------------------------------------------------- helpers


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def split(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` near-equal counts."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_async(coro: Awaitable[Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


class Clock:
    """Event times: enrolments a month ago, outreach an hour ago (the rules refuse the future)."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.enrolled = now - dt.timedelta(days=30)
        self.outreach = now - dt.timedelta(hours=1)
        self.outreach_wire = self.outreach.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class World:
    """What setup made: the databases, the programme and its people."""

    server_dsn: str
    db_name: str
    es_db_name: str
    database_url: str
    programme_id: uuid.UUID
    admin_id: uuid.UUID
    admin_email: str
    counselor_id: uuid.UUID
    contacts: list[uuid.UUID]
    clock: Clock
    redis_prefix: str = ""
    server_info: dict[str, str] = field(default_factory=dict)


def outreach_data(contact: uuid.UUID) -> dict[str, str]:
    return {"outreach_id": str(uuid.uuid4()), "contact_id": str(contact), "channel": "email", "purpose": "introduction"}


# --------------------------------------------------------------------------- setup


async def create_databases(world: World) -> None:
    admin = await asyncpg.connect(world.server_dsn)
    try:
        for name in (world.db_name, world.es_db_name):
            await admin.execute(f'CREATE DATABASE "{name}"')
        rows = await admin.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
            [
                "fsync",
                "synchronous_commit",
                "wal_sync_method",
                "full_page_writes",
                "shared_buffers",
                "commit_delay",
                "wal_level",
                "max_connections",
            ],
        )
        world.server_info = {r["name"]: r["setting"] for r in rows}
        world.server_info["version"] = await admin.fetchval("SHOW server_version")
        world.server_info["shared_buffers"] = await admin.fetchval("SHOW shared_buffers")
        backend = await admin.fetchval("SELECT pg_backend_pid()")
        ACCOUNTING["postmaster"] = _parent_of(backend)  # None: PostgreSQL elsewhere, its CPU is not counted
        ACCOUNTING["databases"] = (world.db_name, world.es_db_name)
    finally:
        await admin.close()


async def drop_redis_keys(world: World) -> int:
    """Delete the wake-up jobs the API enqueued under the bench's own prefix (no worker runs here)."""
    try:
        from redis.asyncio import Redis
    except ImportError:
        return 0
    client = Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), socket_connect_timeout=2)
    dropped = 0
    try:
        for pattern in (f"{world.redis_prefix}:*", f"arq:*:{world.redis_prefix}:*"):
            async for key in client.scan_iter(match=pattern, count=500):
                dropped += await client.delete(key)
    except OSError:
        pass
    finally:
        await client.aclose()
    return dropped


async def drop_databases(world: World) -> None:
    admin = await asyncpg.connect(world.server_dsn)
    try:
        for name in (world.db_name, world.es_db_name):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def settings_for(world: World, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": world.database_url,
            "PEOPLELINKS_SECRET_KEY": "x" * 40,
            "PEOPLELINKS_MASTER_KEY": MASTER_KEY,
            "PEOPLELINKS_REDIS_PREFIX": world.redis_prefix,
            **extra,
        }
    )


def tenant(pool: asyncpg.Pool, programme_id: uuid.UUID) -> Any:
    """A pooled connection acting for the programme, as the application takes one."""
    return _tenant_connection(pool, programme_id) if _tenant_connection is not None else pool.acquire()


def make_recorder(store: EventStore, settings: Settings) -> Recorder:
    """The Recorder as the API builds it (without the Redis wake-up)."""
    if "keys" not in inspect.signature(Recorder).parameters:  # before personal data was encrypted
        return Recorder(store)
    from infra.crypto import SubjectKeys

    return Recorder(store, keys=SubjectKeys.from_settings(settings))  # type: ignore[call-arg]


async def record_all(world: World, incoming: list[IncomingEvent]) -> None:
    """Record events through ``Recorder.record`` (the rules, and whatever else the API does), 500 a call."""
    settings = settings_for(world)
    pool = await create_app_pool(settings, min_size=1, max_size=2)
    try:
        recorder = make_recorder(EventStore(pool), settings)
        metadata = Metadata(programme_id=world.programme_id, actor_id=world.admin_id)
        for part in chunks(incoming, 500):
            await recorder.record(world.programme_id, list(part), metadata)
    finally:
        await pool.close()


async def setup_programme(world: World) -> None:
    """Migrate (as ``peoplelinks migrate``), create the programme and a counselor, and the contacts."""
    conn = await asyncpg.connect(world.database_url)
    try:
        await migrate(conn)
        world.programme_id, world.admin_id = await create_programme(
            conn, name="Bench", admin_email=world.admin_email, admin_password=ADMIN_PASSWORD
        )
        world.counselor_id = await create_user(
            conn,
            programme_id=world.programme_id,
            email=f"counselor-{world.db_name}@bench.example",
            role="counselor",
            password=ADMIN_PASSWORD,
        )
        await conn.execute(
            """CREATE TABLE plain_events (
                   global_position bigserial PRIMARY KEY,
                   programme_id uuid NOT NULL, stream_id text NOT NULL, stream_version integer NOT NULL,
                   event_id uuid NOT NULL, type text NOT NULL, schema_version smallint NOT NULL,
                   data jsonb NOT NULL, metadata jsonb NOT NULL, occurred_at timestamptz NOT NULL,
                   recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                   tx_id xid8 NOT NULL DEFAULT pg_current_xact_id());
               CREATE TABLE plain_events_indexed (LIKE plain_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
               ALTER TABLE plain_events_indexed ALTER COLUMN global_position
                   SET DEFAULT nextval(pg_get_serial_sequence('plain_events', 'global_position'));
               ALTER TABLE plain_events_indexed ADD PRIMARY KEY (global_position),
                   ADD UNIQUE (programme_id, stream_id, stream_version), ADD UNIQUE (programme_id, event_id);
               CREATE INDEX ON plain_events_indexed (tx_id, global_position);
               GRANT SELECT, INSERT ON plain_events, plain_events_indexed TO peoplelinks_app;
               GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO peoplelinks_app;"""
        )
    finally:
        await conn.close()
    world.contacts = [uuid.uuid4() for _ in range(200)]
    await record_all(
        world,
        [
            IncomingEvent(
                stream_id=f"contact-{c}",
                event_id=uuid.uuid4(),
                occurred_at=world.clock.enrolled,
                event=ContactAdded(name=f"Bench Contact {n}"),
            )
            for n, c in enumerate(world.contacts)
        ],
    )


async def enrol_participants(world: World, count: int) -> list[uuid.UUID]:
    """``count`` new participants, enrolled through ``Recorder.record`` (not timed)."""
    participants = [uuid.uuid4() for _ in range(count)]
    event = ParticipantEnrolled(
        enrolled_on=world.clock.enrolled.date(),
        counselor_id=world.counselor_id,
        profile=Profile(display_name="Bench Participant"),
    )
    await record_all(
        world,
        [
            IncomingEvent(
                stream_id=f"participant-{p}", event_id=uuid.uuid4(), occurred_at=world.clock.enrolled, event=event
            )
            for p in participants
        ],
    )
    return participants


# --------------------------------------------------------------------------- the API server


class Server:
    """``peoplelinks api`` in its own process group on a free port of 127.0.0.1."""

    def __init__(self, world: World, workers: int, log_dir: Path, *, floor: bool = False) -> None:
        self.port = free_port()
        self.workers = workers
        self.floor = floor
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{'floor' if floor else 'server'}-w{workers}.log"
        self._log = self.log_path.open("wb")
        env = {
            **os.environ,
            "DATABASE_URL": world.database_url,
            "PEOPLELINKS_SECRET_KEY": secrets.token_urlsafe(48),
            "PEOPLELINKS_ACCESS_TOKEN_TTL": "7200",
            # The API wakes the worker through Redis after each commit: keep the bench's jobs apart.
            "PEOPLELINKS_REDIS_PREFIX": world.redis_prefix,
            "PEOPLELINKS_MASTER_KEY": MASTER_KEY,
        }
        script = Path(sys.executable).with_name("peoplelinks")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]
        command += ["api", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        if floor:  # the same uvicorn settings as services/cli.py's api command
            command = [sys.executable, "-m", "uvicorn", "--factory", "bench.floor_app:build", "--host", "127.0.0.1"]
            command += ["--port", str(self.port), "--workers", str(workers), "--log-level", "warning"]
            command += ["--no-access-log", "--proxy-headers"]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, within_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + within_seconds
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the API server exited with {self.process.returncode}: {self.log_tail()}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the API server did not answer /health within {within_seconds}s: {self.log_tail()}")

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


async def login(base_url: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/v1/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        if response.status_code != 200:
            raise RuntimeError(f"login failed: {response.status_code} {response.text}")
        token: str = response.json()["access_token"]
        return token


class Phase:
    """Warm-up then a timed phase, for concurrent workers: every worker warms up, then all start together."""

    def __init__(self, workers: int) -> None:
        self._waiting = workers
        self._all_warm = asyncio.Event()
        self.go = asyncio.Event()

    def fail(self) -> None:
        """A worker failed: let everyone through so that the failure surfaces."""
        self._all_warm.set()
        self.go.set()

    async def warm(self) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self._all_warm.set()
        await self.go.wait()

    async def start(self, server_pid: int | None) -> tuple[float, dict[str, float]]:
        await self._all_warm.wait()
        cpu = cpu_snapshot(server_pid)
        started = time.perf_counter()
        self.go.set()
        return started, cpu


async def http_single(
    server: Server,
    token: str,
    world: World,
    participants: list[uuid.UUID],
    total: int,
    clients: int,
    warmup: int,
    progress: Progress,
    profile_dir: Path | None,
) -> Result:
    """One ``outreach_sent`` a POST, ``clients`` concurrent clients, each on its own participants."""
    key = f"{'http_floor' if server.floor else 'http_single'}_w{server.workers}"
    what = "HTTP floor (no-op route)" if server.floor else "HTTP single POSTs"
    task = progress.add_task(f"{what}, workers={server.workers}", total=total)
    owned = [participants[i::clients] for i in range(clients)]
    latencies: list[float] = []
    phase = Phase(clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    contacts = world.contacts

    async def client(index: int, count: int) -> None:
        mine = owned[index]
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60, limits=limits) as http:
            sent = 0

            async def post_one() -> float:
                nonlocal sent
                participant = mine[sent % len(mine)]
                sent += 1
                body = _JSON.encode(
                    {
                        "type": "outreach_sent",
                        "occurred_at": world.clock.outreach_wire,
                        "event_id": str(uuid.uuid4()),
                        "data": outreach_data(contacts[sent % len(contacts)]),
                    }
                )
                started = time.perf_counter()
                response = await http.post(f"/v1/participants/{participant}/events", content=body)
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(f"POST answered {response.status_code}: {response.text[:500]}")
                return elapsed

            try:
                for _ in range(warmup):
                    await post_one()
                await phase.warm()
                for _ in range(count):
                    latencies.append(await post_one())
                    progress.advance(task)
            except BaseException:
                phase.fail()
                raise

    await asyncio.to_thread(settle, key)
    tasks = [asyncio.create_task(client(i, n)) for i, n in enumerate(split(total, clients))]
    with profiled(profile_dir, key, server.pid):
        started, cpu_before = await phase.start(server.pid)
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        cpu = cpu_delta(cpu_before, cpu_snapshot(server.pid))
    return Result(
        key=key,
        label=(
            f"HTTP floor: the same POSTs to a route that does nothing (bench/floor_app.py), {server.workers} "
            "uvicorn worker(s) (for reference)"
            if server.floor
            else f"HTTP single-event POSTs, `--workers {server.workers}`"
        ),
        events=total,
        seconds=seconds,
        concurrency=f"{clients} clients",
        batch=1,
        requests=total,
        latencies=latencies,
        cpu=cpu,
        workers=server.workers,
    )


async def http_batch(
    server: Server,
    token: str,
    world: World,
    participants: list[uuid.UUID],
    total: int,
    clients: int,
    batch: int,
    per_stream: int,
    progress: Progress,
    profile_dir: Path | None,
) -> Result:
    """``POST /v1/events:batch`` of ``batch`` events over ``batch // per_stream`` participants."""
    key = f"http_batch_w{server.workers}"
    task = progress.add_task(f"HTTP batch POSTs, workers={server.workers}", total=total)
    streams_per_request = max(1, batch // per_stream)
    owned = [participants[i::clients] for i in range(clients)]
    latencies: list[float] = []
    requests = math.ceil(total / batch)
    sizes = [batch] * (requests - 1) + [total - batch * (requests - 1)]
    queue = list(reversed(sizes))
    phase = Phase(clients)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    contacts = world.contacts

    def body(mine: list[uuid.UUID], cursor: int, size: int) -> bytes:
        events = []
        for i in range(size):
            participant = mine[(cursor + i // per_stream) % len(mine)]
            events.append(
                {
                    "stream_id": f"participant-{participant}",
                    "type": "outreach_sent",
                    "occurred_at": world.clock.outreach_wire,
                    "event_id": str(uuid.uuid4()),
                    "data": outreach_data(contacts[i % len(contacts)]),
                }
            )
        return _JSON.encode({"events": events})

    async def client(index: int) -> None:
        mine = owned[index]
        cursor = 0
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=300) as http:

            async def post(size: int) -> float:
                nonlocal cursor
                content = body(mine, cursor, size)
                cursor += streams_per_request
                started = time.perf_counter()
                response = await http.post("/v1/events:batch", content=content)
                elapsed = time.perf_counter() - started
                if response.status_code != 201:
                    raise RuntimeError(f"batch POST answered {response.status_code}: {response.text[:500]}")
                return elapsed

            try:
                await post(min(batch, 100))  # warm-up: connection and code paths
                await phase.warm()
                while queue:
                    size = queue.pop()
                    latencies.append(await post(size))
                    progress.advance(task, size)
            except BaseException:
                phase.fail()
                raise

    await asyncio.to_thread(settle, key)
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    with profiled(profile_dir, key, server.pid):
        started, cpu_before = await phase.start(server.pid)
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
        cpu = cpu_delta(cpu_before, cpu_snapshot(server.pid))
    return Result(
        key=key,
        label=f"HTTP batch POSTs (`/v1/events:batch`), `--workers {server.workers}`",
        events=total,
        seconds=seconds,
        concurrency=f"{clients} clients",
        batch=batch,
        requests=requests,
        latencies=latencies,
        cpu=cpu,
        note=f"{streams_per_request} participants × {per_stream} events a request",
        workers=server.workers,
    )


# --------------------------------------------------------------------------- in-process scenarios (asyncpg)


async def _concurrent_writers(
    writers: int,
    counts: list[int],
    work: Callable[[int, int], Awaitable[list[float]]],
) -> tuple[float, dict[str, float], list[float]]:
    """Run ``work(index, count)`` for every writer at once; wall seconds, CPU used and latencies."""
    cpu_before = cpu_snapshot(None)
    started = time.perf_counter()
    results = await asyncio.gather(*(work(i, counts[i]) for i in range(writers)))
    seconds = time.perf_counter() - started
    cpu = cpu_delta(cpu_before, cpu_snapshot(None))
    return seconds, cpu, [x for r in results for x in r]


async def single_in_process(
    world: World,
    participants: list[uuid.UUID],
    total: int,
    concurrency: int,
    through_recorder: bool,
    progress: Progress,
    profile_dir: Path | None,
) -> Result:
    """One event a call, ``concurrency`` tasks, no HTTP: ``Recorder.record`` (rules) or ``EventStore.append``."""
    key = "recorder_single" if through_recorder else "store_single"
    task = progress.add_task("Recorder.record, single" if through_recorder else "store appends, single", total=total)
    pool = await create_app_pool(settings_for(world), min_size=concurrency, max_size=concurrency)
    store = EventStore(pool)
    recorder = make_recorder(store, settings_for(world))
    owned = [participants[i::concurrency] for i in range(concurrency)]
    contacts = world.contacts
    occurred = world.clock.outreach

    async def writer(index: int, count: int) -> list[float]:
        mine = owned[index]
        versions = dict.fromkeys(mine, 1)
        latencies = []
        for n in range(count):
            participant = mine[n % len(mine)]
            stream_id = f"participant-{participant}"
            event = OutreachSent(
                outreach_id=uuid.uuid4(),
                contact_id=contacts[n % len(contacts)],
                channel="email",
                purpose="introduction",
            )
            metadata = Metadata(
                programme_id=world.programme_id,
                actor_id=world.admin_id,
                correlation_id=uuid.uuid4(),
                causation_id=uuid.uuid4(),
            )
            started = time.perf_counter()
            if through_recorder:
                incoming = IncomingEvent(stream_id=stream_id, event_id=uuid.uuid4(), occurred_at=occurred, event=event)
                await recorder.record(world.programme_id, [incoming], metadata)
            else:
                append = StreamAppend(
                    stream_id=stream_id,
                    kind="participant",
                    expected_version=versions[participant],
                    events=[
                        NewEvent(
                            event_id=uuid.uuid4(), type="outreach_sent", occurred_at=occurred, data=encode_data(event)
                        )
                    ],
                )
                async with tenant(pool, world.programme_id) as conn, conn.transaction():
                    await store.append(conn, world.programme_id, [append], metadata)
                versions[participant] += 1
            latencies.append(time.perf_counter() - started)
            progress.advance(task)
        return latencies

    try:
        settle(key)
        with profiled(profile_dir, key, os.getpid()):
            seconds, cpu, latencies = await _concurrent_writers(concurrency, split(total, concurrency), writer)
    finally:
        await pool.close()
    label = (
        "in-process `Recorder.record`, one event a call (rules, no HTTP, no Redis wake-up) (for reference)"
        if through_recorder
        else "in-process `EventStore.append`, one event a transaction (for reference)"
    )
    return Result(
        key=key,
        label=label,
        events=total,
        seconds=seconds,
        concurrency=f"{concurrency} tasks",
        batch=1,
        requests=total,
        latencies=latencies,
        cpu=cpu,
    )


async def store_batches(
    world: World,
    participants: list[uuid.UUID],
    total: int,
    connections: int,
    batch: int,
    per_stream: int,
    progress: Progress,
    profile_dir: Path | None,
) -> Result:
    """``EventStore.append`` in transactions of ``batch`` events, one connection a writer, no rules."""
    task = progress.add_task("store appends (EventStore.append)", total=total)
    pool = await create_app_pool(settings_for(world), min_size=connections, max_size=connections)
    store = EventStore(pool)
    owned = [participants[i::connections] for i in range(connections)]
    streams_per_txn = max(1, batch // per_stream)
    transactions = math.ceil(total / batch)
    counts = split(transactions, connections)
    contacts = world.contacts
    occurred = world.clock.outreach

    async def writer(index: int, count: int) -> list[float]:
        mine = owned[index]
        versions = dict.fromkeys(mine, 1)
        cursor = 0
        latencies = []
        async with tenant(pool, world.programme_id) as conn:
            for _ in range(count):
                chosen = [mine[(cursor + k) % len(mine)] for k in range(streams_per_txn)]
                cursor += streams_per_txn
                appends = [
                    StreamAppend(
                        stream_id=f"participant-{p}",
                        kind="participant",
                        expected_version=versions[p],
                        events=[
                            NewEvent(
                                event_id=uuid.uuid4(),
                                type="outreach_sent",
                                occurred_at=occurred,
                                data=encode_data(
                                    OutreachSent(
                                        outreach_id=uuid.uuid4(),
                                        contact_id=contacts[j % len(contacts)],
                                        channel="email",
                                        purpose="introduction",
                                    )
                                ),
                            )
                            for j in range(per_stream)
                        ],
                    )
                    for p in chosen
                ]
                metadata = Metadata(
                    programme_id=world.programme_id,
                    actor_id=world.admin_id,
                    correlation_id=uuid.uuid4(),
                    causation_id=uuid.uuid4(),
                )
                started = time.perf_counter()
                async with conn.transaction():
                    await store.append(conn, world.programme_id, appends, metadata)
                latencies.append(time.perf_counter() - started)
                for p in chosen:
                    versions[p] += per_stream
                progress.advance(task, streams_per_txn * per_stream)
        return latencies

    try:
        settle("store")
        with profiled(profile_dir, "store", os.getpid()):
            seconds, cpu, latencies = await _concurrent_writers(connections, counts, writer)
    finally:
        await pool.close()
    events = transactions * streams_per_txn * per_stream
    return Result(
        key="store",
        label="direct store appends (`EventStore.append`, no rules)",
        events=events,
        seconds=seconds,
        concurrency=f"{connections} connections",
        batch=streams_per_txn * per_stream,
        requests=transactions,
        latencies=latencies,
        cpu=cpu,
        note=f"{streams_per_txn} streams × {per_stream} events a transaction",
    )


async def plain_inserts(
    world: World,
    table: str,
    total: int,
    connections: int,
    batch: int,
    per_stream: int,
    progress: Progress,
    profile_dir: Path | None,
) -> Result:
    """One multi-row ``INSERT … VALUES`` of ``batch`` equivalent rows a statement (its own transaction)."""
    key = "plain" if table == "plain_events" else "plain_indexed"
    task = progress.add_task(f"plain INSERT ({table})", total=total)
    pool = await create_app_pool(settings_for(world), min_size=connections, max_size=connections)
    columns = 9
    values = ", ".join("(" + ", ".join(f"${r * columns + c + 1}" for c in range(columns)) + ")" for r in range(batch))
    sql = (
        f"INSERT INTO {table} (programme_id, stream_id, stream_version, event_id, type, schema_version, data, "
        f"metadata, occurred_at) VALUES {values}"
    )
    streams_per_txn = max(1, batch // per_stream)
    statements = math.ceil(total / batch)
    counts = split(statements, connections)
    contacts = world.contacts
    occurred = world.clock.outreach
    programme = world.programme_id

    async def writer(index: int, count: int) -> list[float]:
        streams = [f"participant-{uuid.uuid4()}" for _ in range(50)]
        versions = dict.fromkeys(streams, 1)
        cursor = 0
        latencies = []
        async with pool.acquire() as conn:
            for _ in range(count):
                chosen = [streams[(cursor + k) % len(streams)] for k in range(streams_per_txn)]
                cursor += streams_per_txn
                meta = _JSON.encode(
                    Metadata(
                        programme_id=programme,
                        actor_id=world.admin_id,
                        correlation_id=uuid.uuid4(),
                        causation_id=uuid.uuid4(),
                    )
                ).decode()
                args: list[Any] = []
                for stream in chosen:
                    for j in range(per_stream):
                        outreach = OutreachSent(
                            outreach_id=uuid.uuid4(),
                            contact_id=contacts[j % len(contacts)],
                            channel="email",
                            purpose="introduction",
                        )
                        data = encode_data(outreach).decode()
                        args += [
                            programme,
                            stream,
                            versions[stream] + j + 1,
                            uuid.uuid4(),
                            "outreach_sent",
                            1,
                            data,
                            meta,
                            occurred,
                        ]
                    versions[stream] += per_stream
                started = time.perf_counter()
                await conn.execute(sql, *args)
                latencies.append(time.perf_counter() - started)
                progress.advance(task, streams_per_txn * per_stream)
        return latencies

    try:
        settle(key)
        with profiled(profile_dir, key, os.getpid()):
            seconds, cpu, latencies = await _concurrent_writers(connections, counts, writer)
    finally:
        await pool.close()
    label = (
        "plain multi-row INSERT, bigserial primary key only (ceiling)"
        if key == "plain"
        else "plain multi-row INSERT, with the events table's 3 extra indexes (for reference)"
    )
    return Result(
        key=key,
        label=label,
        events=statements * batch,
        seconds=seconds,
        concurrency=f"{connections} connections",
        batch=batch,
        requests=statements,
        latencies=latencies,
        cpu=cpu,
        note="one statement a transaction",
    )


# --------------------------------------------------------------------------- the eventsourcing library (sync, threads)


if _EsAggregate is not None:

    class BenchParticipant(_EsAggregate):  # type: ignore[misc,valid-type]
        """A participant as an eventsourcing aggregate: enrolled, then sent outreach."""

        @_es_event("Enrolled")
        def __init__(self, counselor_id: uuid.UUID, display_name: str, enrolled_on: str) -> None:
            self.counselor_id = counselor_id
            self.outreach: list[uuid.UUID] = []

        @_es_event("OutreachSent")
        def send_outreach(self, outreach_id: uuid.UUID, contact_id: uuid.UUID, channel: str, purpose: str) -> None:
            self.outreach.append(outreach_id)

    class BenchApplication(_EsApplication):  # type: ignore[misc,valid-type]
        """The library's application over its PostgreSQL persistence."""


def es_env(world: World, pool_size: int) -> dict[str, str]:
    parts = urlsplit(world.server_dsn)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": world.es_db_name,
        "POSTGRES_HOST": parts.hostname or "localhost",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }


def _threaded(
    threads: int,
    counts: list[int],
    work: Callable[[int, int, threading.Barrier], list[float]],
) -> tuple[float, dict[str, float], list[float]]:
    barrier = threading.Barrier(threads + 1)
    results: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = work(index, counts[index], barrier)
        except BaseException as e:  # reported after join
            errors.append(e)
            barrier.abort()

    pool = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        for t in pool:
            t.join()
        raise errors[0] if errors else RuntimeError("a writer thread failed") from None
    cpu_before = cpu_snapshot(None)
    started = time.perf_counter()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - started
    cpu = cpu_delta(cpu_before, cpu_snapshot(None))
    if errors:
        raise errors[0]
    return seconds, cpu, [x for r in results for x in r]


def eventsourcing_scenarios(
    world: World,
    batch_total: int,
    single_total: int,
    writers: int,
    threads: int,
    batch: int,
    per_stream: int,
    progress: Progress,
    profile_dir: Path | None,
    run_batch: bool,
    run_single: bool,
) -> list[Result]:
    if _EsApplication is None:
        raise RuntimeError("the eventsourcing scenarios need: pip install 'eventsourcing[postgres]'")
    app = BenchApplication(env=es_env(world, max(writers, threads)))
    contacts = world.contacts
    results: list[Result] = []
    enrolled_on = world.clock.enrolled.date().isoformat()

    def enrol(count: int) -> list[Any]:
        made = [
            BenchParticipant(counselor_id=world.counselor_id, display_name="Bench Participant", enrolled_on=enrolled_on)
            for _ in range(count)
        ]
        for part in chunks(made, 500):
            app.save(*part)
        return made

    def send(aggregate: Any, n: int) -> None:
        aggregate.send_outreach(
            outreach_id=uuid.uuid4(), contact_id=contacts[n % len(contacts)], channel="email", purpose="introduction"
        )

    def batched() -> Result:
        streams_per_txn = max(1, batch // per_stream)
        saves = math.ceil(batch_total / batch)
        owned = [enrol(max(50, streams_per_txn)) for _ in range(writers)]
        task = progress.add_task("eventsourcing, batched saves", total=saves * batch)

        def batch_writer(index: int, count: int, barrier: threading.Barrier) -> list[float]:
            mine = owned[index]
            cursor = 0
            latencies = []
            barrier.wait()
            for _ in range(count):
                chosen = [mine[(cursor + k) % len(mine)] for k in range(streams_per_txn)]
                cursor += streams_per_txn
                for aggregate in chosen:
                    for j in range(per_stream):
                        send(aggregate, j)
                started = time.perf_counter()
                app.save(*chosen)
                latencies.append(time.perf_counter() - started)
                progress.advance(task, streams_per_txn * per_stream)
            return latencies

        settle("es_batch")
        with profiled(profile_dir, "es_batch", os.getpid()):
            seconds, cpu, latencies = _threaded(writers, split(saves, writers), batch_writer)
        return Result(
            key="es_batch",
            label="eventsourcing library, batched `Application.save`",
            events=saves * streams_per_txn * per_stream,
            seconds=seconds,
            concurrency=f"{writers} threads",
            batch=streams_per_txn * per_stream,
            requests=saves,
            latencies=latencies,
            cpu=cpu,
            note=f"{streams_per_txn} aggregates × {per_stream} events a save (one transaction)",
        )

    def single() -> Result:
        owned = [enrol(64) for _ in range(threads)]
        task = progress.add_task("eventsourcing, single-event saves", total=single_total)

        def single_writer(index: int, count: int, barrier: threading.Barrier) -> list[float]:
            mine = owned[index]
            latencies = []
            barrier.wait()
            for n in range(count):
                aggregate = mine[n % len(mine)]
                send(aggregate, n)
                started = time.perf_counter()
                app.save(aggregate)
                latencies.append(time.perf_counter() - started)
                progress.advance(task)
            return latencies

        settle("es_single")
        with profiled(profile_dir, "es_single", os.getpid()):
            seconds, cpu, latencies = _threaded(threads, split(single_total, threads), single_writer)
        return Result(
            key="es_single",
            label="eventsourcing library, single-event `Application.save`",
            events=single_total,
            seconds=seconds,
            concurrency=f"{threads} threads",
            batch=1,
            requests=single_total,
            latencies=latencies,
            cpu=cpu,
        )

    try:
        if run_batch:
            results.append(quietest(batched))
        if run_single:
            results.append(quietest(single))
    finally:
        app.close()
    return results


# --------------------------------------------------------------------------- orchestration


@dataclass
class Config:
    http_single_events: int
    http_batch_events: int
    store_events: int
    plain_events: int
    es_batch_events: int
    es_single_events: int
    http_clients: int
    batch_clients: int
    http_batch_size: int
    http_batch_per_stream: int
    connections: int
    store_batch: int
    per_stream: int
    es_threads: int
    workers: list[int]
    warmup: int
    single_events: int
    scenarios: set[str]
    profile_dir: Path | None


def run_floor(world: World, config: Config, progress: Progress, log_dir: Path) -> list[Result]:
    """The single-event POSTs against bench/floor_app.py: what HTTP costs here before any work."""
    results: list[Result] = []
    for workers in config.workers:
        server = Server(world, workers, log_dir, floor=True)
        try:
            run_async(server.wait_ready())

            async def floor(server: Server) -> Result:
                people = [uuid.uuid4() for _ in range(config.http_clients * 64)]
                return await http_single(
                    server,
                    "not-checked",
                    world,
                    people,
                    config.http_single_events,
                    config.http_clients,
                    config.warmup,
                    progress,
                    config.profile_dir,
                )

            results.append(quietest(lambda server=server: run_async(floor(server))))  # type: ignore[misc]
        except Exception:
            console.print(f"[red]floor server log (workers={workers}):[/]\n{server.log_tail()}")
            raise
        finally:
            server.stop()
    return results


def run_http(world: World, config: Config, progress: Progress, log_dir: Path) -> list[Result]:
    results: list[Result] = []
    wants_single = "http_single" in config.scenarios
    wants_batch = "http_batch" in config.scenarios
    if "http_floor" in config.scenarios:
        results += run_floor(world, config, progress, log_dir)
    if not (wants_single or wants_batch):
        return results
    batch_people = config.batch_clients * max(500, config.http_batch_size // config.http_batch_per_stream)
    for workers in config.workers:
        server = Server(world, workers, log_dir)
        try:
            run_async(server.wait_ready())

            async def scenarios(server: Server) -> None:
                token = await login(server.base_url, world.admin_email)

                async def single() -> Result:
                    people = await enrol_participants(world, config.http_clients * 64)
                    return await http_single(
                        server,
                        token,
                        world,
                        people,
                        config.http_single_events,
                        config.http_clients,
                        config.warmup,
                        progress,
                        config.profile_dir,
                    )

                async def batched() -> Result:
                    people = await enrol_participants(world, batch_people)
                    return await http_batch(
                        server,
                        token,
                        world,
                        people,
                        config.http_batch_events,
                        config.batch_clients,
                        config.http_batch_size,
                        config.http_batch_per_stream,
                        progress,
                        config.profile_dir,
                    )

                if wants_single:
                    results.append(await quietest_async(single))
                if wants_batch:
                    results.append(await quietest_async(batched))

            run_async(scenarios(server))
        except Exception:
            console.print(f"[red]API server log (workers={workers}):[/]\n{server.log_tail()}")
            raise
        finally:
            server.stop()
    return results


def run_all(world: World, config: Config, log_dir: Path) -> list[Result]:
    results: list[Result] = []
    with make_progress() as progress:
        results += run_http(world, config, progress, log_dir)

        def store() -> Result:
            people = run_async(enrol_participants(world, config.connections * 50))
            return run_async(  # type: ignore[no-any-return]
                store_batches(
                    world,
                    people,
                    config.store_events,
                    config.connections,
                    config.store_batch,
                    config.per_stream,
                    progress,
                    config.profile_dir,
                )
            )

        def plain(table: str) -> Callable[[], Result]:
            return lambda: run_async(
                plain_inserts(
                    world,
                    table,
                    config.plain_events,
                    config.connections,
                    config.store_batch,
                    config.per_stream,
                    progress,
                    config.profile_dir,
                )
            )

        def single(through_recorder: bool) -> Callable[[], Result]:
            def run() -> Result:
                people = run_async(enrol_participants(world, config.http_clients * 64))
                return run_async(  # type: ignore[no-any-return]
                    single_in_process(
                        world,
                        people,
                        config.single_events,
                        config.http_clients,
                        through_recorder,
                        progress,
                        config.profile_dir,
                    )
                )

            return run

        if "store" in config.scenarios:
            results.append(quietest(store))
        for key, table in (("plain", "plain_events"), ("plain_indexed", "plain_events_indexed")):
            if key in config.scenarios:
                results.append(quietest(plain(table)))
        for key, through_recorder in (("recorder_single", True), ("store_single", False)):
            if key in config.scenarios:
                results.append(quietest(single(through_recorder)))
        if "es_batch" in config.scenarios or "es_single" in config.scenarios:
            results += eventsourcing_scenarios(
                world,
                config.es_batch_events,
                config.es_single_events,
                config.connections,
                config.es_threads,
                config.store_batch,
                config.per_stream,
                progress,
                config.profile_dir,
                "es_batch" in config.scenarios,
                "es_single" in config.scenarios,
            )
    return results


async def check_stored(world: World, results: list[Result]) -> str:
    """Compare what the store holds with what the scenarios say they appended."""
    conn = await asyncpg.connect(world.database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE type = 'outreach_sent'")
    finally:
        await conn.close()
    claimed = sum(r.events for r in results if r.key.startswith(("http_single", "http_batch", "store", "recorder")))
    # Warm-ups are stored too, and not counted in the results.
    return (
        f"{stored:,} outreach_sent events stored for {claimed:,} counted "
        "(the rest are warm-up requests and the tries not kept)"
    )


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def best(results: list[Result], prefix: str) -> Result | None:
    found = [r for r in results if r.key.startswith(prefix)]
    return max(found, key=lambda r: r.rate) if found else None


def aims(results: list[Result]) -> list[tuple[str, str, str]]:
    """(aim, figure, verdict) for every aim the results allow judging."""
    by_key = {r.key: r for r in results}
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    batch = best(results, "http_batch_")
    if batch:
        each = ", ".join(f"{r.rate:,.0f} (workers {r.workers})" for r in results if r.key.startswith("http_batch_"))
        rows.append(
            (f"batch appends through HTTP ≥ {AIM_HTTP_BATCH:,} events/s", each, verdict(batch.rate >= AIM_HTTP_BATCH))
        )
    store, plain = by_key.get("store"), by_key.get("plain")
    if store and plain:
        share = store.rate / plain.rate
        rows.append(
            (
                f"direct batched store appends ≥ {AIM_STORE_SHARE:.0%} of the plain INSERT",
                f"{store.rate:,.0f} / {plain.rate:,.0f} = {share:.1%}",
                verdict(share >= AIM_STORE_SHARE),
            )
        )
    single = best(results, "http_single_")
    if single:
        each = ", ".join(f"{r.rate:,.0f} (workers {r.workers})" for r in results if r.key.startswith("http_single_"))
        rows.append(
            (
                f"single-event POSTs with 16 clients ≥ {AIM_HTTP_SINGLE:,}/s",
                each,
                verdict(single.rate >= AIM_HTTP_SINGLE),
            )
        )
    es_batch, es_single = by_key.get("es_batch"), by_key.get("es_single")
    peers = [(r, es_batch) for r in results if r.key.startswith("http_batch_") or r.key == "store"]
    peers += [(r, es_single) for r in results if r.key.startswith("http_single_")]
    peers += [(r, es_single) for r in results if r.key in ("recorder_single", "store_single")]
    for ours, peer in peers:
        if peer is None:
            continue
        rows.append(
            (
                f"ahead of eventsourcing: {ours.label}",
                f"{ours.rate:,.0f} vs {peer.rate:,.0f} ({ours.rate / peer.rate:.2f}×)",
                verdict(ours.rate > peer.rate),
            )
        )
    return rows


def results_table(results: list[Result]) -> list[str]:
    lines = [
        "| scenario | events | concurrency | events a request / transaction | seconds | events/s | p50 ms | p95 ms "
        "| CPU cores busy in the timed phase |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        size = f"{r.batch:,}" + (f" ({r.note})" if r.note and r.batch > 1 else "")
        lines.append(
            f"| {r.label} | {r.events:,} | {r.concurrency} | {size} | {r.seconds:.2f} | **{r.rate:,.0f}** "
            f"| {_fmt(r.p50)} | {_fmt(r.p95)} | {r.cpu_cores()}{tries_note(r)} |"
        )
    return lines


def tries_note(result: Result) -> str:
    if len(result.tries) < 2:
        return ""
    loads = ", ".join(f"{t:.2f}" for t in result.tries)
    return f" (quietest of {len(result.tries)} tries; other load per try: {loads})"


def code_under_test() -> str:
    """Which code the figures are of: the working tree at a commit, or a copy (``git archive``) of one."""
    import services  # where the code under test was imported from

    source = Path(services.__file__).resolve().parent.parent
    marker = source / ".commit"
    # A copy's marker, whether the bench itself runs from the copy (REPO is then the copy too) or from the clone.
    if marker.exists() or source != REPO:
        commit = marker.read_text().strip() if marker.exists() else "?"
        return f"the application code of commit `{commit}` (a `git archive` copy on PYTHONPATH)"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "domain", "infra", "services", "projections"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        return "the working tree"
    return f"the application code of commit `{commit}`" + (" with uncommitted changes" if dirty else "")


def section(world: World, config: Config, results: list[Result], command: str, stored: str, notes: str) -> str:
    info = world.server_info
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Measured {when} with `{command}`, {code_under_test()}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; "
        "the bench, the API server and PostgreSQL share the cores.",
        f"- PostgreSQL {info.get('version', '?')}: fsync={info.get('fsync', '?')}, "
        f"synchronous_commit={info.get('synchronous_commit', '?')}, "
        f"wal_sync_method={info.get('wal_sync_method', '?')}, "
        f"full_page_writes={info.get('full_page_writes', '?')}, commit_delay={info.get('commit_delay', '?')}, "
        f"shared_buffers={info.get('shared_buffers', '?')} (read from the server; the bench changes nothing).",
        f"- HTTP: a real `peoplelinks api` process per `--workers` value ({', '.join(map(str, config.workers))}), "
        f"httpx.AsyncClient clients in the bench process; {config.warmup} warm-up request(s) per client, not counted. "
        f"Single: {config.http_clients} clients, each on its own {64} participants. "
        f"Batch: {config.batch_clients} clients, {config.http_batch_size:,} events a request over "
        f"{max(1, config.http_batch_size // config.http_batch_per_stream)} participants.",
        f"- Direct store, plain INSERT and eventsourcing batches: {config.connections} connections / threads, "
        f"{config.store_batch} events a transaction over {max(1, config.store_batch // config.per_stream)} streams. "
        f"eventsourcing single saves: {config.es_threads} threads. eventsourcing {_es_version()} with its "
        "PostgreSQL persistence (`Application.save`, psycopg 3) in its own database on the same server.",
        "- Every event is an `outreach_sent` to an existing participant stream (plain INSERT: the same columns, "
        "jsonb data and metadata). Latency: per request (HTTP), per transaction / save otherwise.",
        "- CPU: seconds of CPU used during the timed phase divided by its wall time, from /proc.",
        f"- Check: {stored}.",
        "",
        *results_table(results),
        "",
        "### Aims",
        "",
        "| aim | figure | verdict |",
        "| --- | --- | --- |",
        *[f"| {aim} | {figure} | {verdict} |" for aim, figure, verdict in aims(results)],
        "",
    ]
    if notes:
        lines += [notes, ""]
    return "\n".join(lines)


def _es_version() -> str:
    try:
        from importlib.metadata import version

        return version("eventsourcing")
    except Exception:
        return "?"


def write_results(path: Path, text: str, title: str = SECTION) -> None:
    """Replace (or add) the section ``title`` of ``path``; other sections and the notes block are kept."""
    old = path.read_text() if path.exists() else ""
    if not old:
        path.write_text("# Benchmark results\n\n" + text)
        return
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    if start is None:
        path.write_text(old.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    path.write_text("".join(lines[:start]) + text + ("\n" if end < len(lines) else "") + "".join(lines[end:]))


def old_notes(path: Path, title: str = SECTION) -> str:
    """The hand-written notes block of the section ``title``, carried over to the rewritten section."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find(title)
    if start < 0:
        return ""
    begin = text.find(NOTES_START, start)
    end = text.find(NOTES_END, start)
    return text[begin : end + len(NOTES_END)] if 0 <= begin < end else ""


def print_results(results: list[Result]) -> None:
    table = Table(title="Appends", show_lines=False)
    for column in ("scenario", "events", "concurrency", "batch", "s", "events/s", "p50 ms", "p95 ms", "CPU cores busy"):
        table.add_column(column, justify="right" if column not in ("scenario", "concurrency") else "left")
    for r in results:
        table.add_row(
            r.label,
            f"{r.events:,}",
            r.concurrency,
            f"{r.batch:,}",
            f"{r.seconds:.2f}",
            f"{r.rate:,.0f}",
            _fmt(r.p50),
            _fmt(r.p95),
            r.cpu_cores() + tries_note(r),
        )
    console.print(table)
    verdicts = Table(title="Aims")
    for column in ("aim", "figure", "verdict"):
        verdicts.add_column(column)
    for aim, figure, verdict in aims(results):
        verdicts.add_row(aim, figure, verdict.strip("*"))
    console.print(verdicts)


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.append",
        description="Append throughput of PeopleLinks (HTTP single and batch, direct store) against the "
        "eventsourcing library and a plain INSERT, on a fresh database of the local PostgreSQL.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("PEOPLELINKS_BENCH_DSN", "postgresql://postgres@localhost:5432/postgres"),
        help="PostgreSQL server to create the bench databases on (env PEOPLELINKS_BENCH_DSN)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke check of every scenario")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases instead of dropping them")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated scenarios among {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--workers", default="1,2", help="API server worker counts to try, comma-separated")
    parser.add_argument(
        "--http-single-events", type=int, default=20_000, help="events of the single-event POSTs (each worker count)"
    )
    parser.add_argument(
        "--http-batch-events", type=int, default=60_000, help="events of the batch POSTs (each worker count)"
    )
    parser.add_argument("--store-events", type=int, default=200_000, help="events of the direct store appends")
    parser.add_argument("--plain-events", type=int, default=200_000, help="rows of each plain INSERT scenario")
    parser.add_argument("--es-batch-events", type=int, default=50_000, help="events of the eventsourcing batched saves")
    parser.add_argument("--es-single-events", type=int, default=20_000, help="events of the eventsourcing single saves")
    parser.add_argument("--http-clients", type=int, default=16, help="concurrent clients of the single-event POSTs")
    parser.add_argument("--batch-clients", type=int, default=4, help="concurrent clients of the batch POSTs")
    parser.add_argument("--http-batch-size", type=int, default=1_000, help="events a batch POST")
    parser.add_argument("--http-batch-per-stream", type=int, default=10, help="events a participant in a batch POST")
    parser.add_argument(
        "--connections", type=int, default=8, help="connections (threads for eventsourcing) of the batched scenarios"
    )
    parser.add_argument("--store-batch", type=int, default=100, help="events a transaction of the batched scenarios")
    parser.add_argument("--per-stream", type=int, default=10, help="events a stream in a batched transaction")
    parser.add_argument("--es-threads", type=int, default=16, help="threads of the eventsourcing single saves")
    parser.add_argument(
        "--warmup", type=int, default=20, help="uncounted requests per client before the single-event POSTs"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"Markdown file to write the section to (default {DEFAULT_RESULTS.relative_to(REPO)}; "
        "not written by --quick unless given)",
    )
    parser.add_argument("--no-results", action="store_true", help="print only, write no results file")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures as JSON here")
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="sample each timed phase with py-spy (collapsed stacks) into this directory",
    )
    parser.add_argument(
        "--single-events",
        type=int,
        default=20_000,
        help="events of the in-process single-event scenarios (recorder_single, store_single)",
    )
    parser.add_argument(
        "--tries",
        type=int,
        default=2,
        help="measure a phase up to this many times while other processes took over 0.3 cores during it; "
        "the quietest try is kept and the others are reported",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each timed phase, wait up to this many seconds for other processes to go under 0.3 "
        "cores (a shared machine); 0 to start at once",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in (
            ("http_single_events", 400),
            ("http_batch_events", 2_000),
            ("store_events", 2_000),
            ("plain_events", 2_000),
            ("es_batch_events", 2_000),
            ("es_single_events", 400),
            ("warmup", 2),
            ("single_events", 400),
            ("quiet_wait", 0.0),
        ):
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    QUIET["limit_seconds"] = args.quiet_wait
    RETRY["tries"] = max(1, args.tries)
    scenarios = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = scenarios - set(SCENARIOS)
    if unknown:
        console.print(f"[red]unknown scenarios: {', '.join(sorted(unknown))}[/]")
        return 2
    config = Config(
        http_single_events=args.http_single_events,
        http_batch_events=args.http_batch_events,
        store_events=args.store_events,
        plain_events=args.plain_events,
        es_batch_events=args.es_batch_events,
        es_single_events=args.es_single_events,
        http_clients=args.http_clients,
        batch_clients=args.batch_clients,
        http_batch_size=args.http_batch_size,
        http_batch_per_stream=args.http_batch_per_stream,
        connections=args.connections,
        store_batch=args.store_batch,
        per_stream=args.per_stream,
        es_threads=args.es_threads,
        workers=[int(w) for w in args.workers.split(",") if w.strip()],
        warmup=args.warmup,
        single_events=args.single_events,
        scenarios=scenarios,
        profile_dir=args.profile_dir,
    )
    suffix = uuid.uuid4().hex[:8]
    db_name = f"plbench_{suffix}"
    world = World(
        server_dsn=args.dsn,
        db_name=db_name,
        es_db_name=f"{db_name}_es",
        database_url=with_database(args.dsn, db_name),
        programme_id=uuid.uuid4(),
        admin_id=uuid.uuid4(),
        admin_email=f"admin-{suffix}@bench.example",
        counselor_id=uuid.uuid4(),
        contacts=[],
        clock=Clock(),
        redis_prefix=f"plbench:{suffix}",
    )
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"plbench-{suffix}"
    log_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"databases [bold]{world.db_name}[/] and [bold]{world.es_db_name}[/]; server logs in {log_dir}")
    run_async(create_databases(world))
    try:
        started = time.monotonic()
        run_async(setup_programme(world))
        results = run_all(world, config, log_dir)
        stored = run_async(check_stored(world, results))
        console.print(f"{stored}; whole run {time.monotonic() - started:.0f} s")
    finally:
        if args.keep:
            console.print(f"kept databases {world.db_name} and {world.es_db_name}")
        else:
            run_async(drop_databases(world))
            run_async(drop_redis_keys(world))
    print_results(results)
    command = "python -m bench.append " + " ".join(sys.argv[1:] if argv is None else argv)
    results_path = args.results
    if results_path is None and not args.quick:
        results_path = DEFAULT_RESULTS
    if results_path is not None and not args.no_results:
        text = section(world, config, results, command.strip(), stored, old_notes(results_path))
        write_results(results_path, text)
        console.print(f"wrote {results_path}")
    if args.json is not None:
        args.json.write_text(
            msgspec.json.encode(
                [
                    {
                        "key": r.key,
                        "label": r.label,
                        "events": r.events,
                        "seconds": r.seconds,
                        "events_per_second": r.rate,
                        "p50_ms": r.p50,
                        "p95_ms": r.p95,
                        "concurrency": r.concurrency,
                        "batch": r.batch,
                        "cpu_seconds": r.cpu,
                    }
                    for r in results
                ]
            ).decode()
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
