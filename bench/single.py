"""Single-event POSTs measured with wrk, beside the no-op floor route and the eventsourcing library, in one run.

A benchmark, not a test. ``bench/append.py`` drives its HTTP scenarios with
httpx clients in the bench process, which use a core of their own at ~1,900
requests/s; here the load comes from ``wrk`` (a C load generator, the Debian
package ``wrk``) with ``bench/wrk/single_event.lua``, which gives every request
an event id and an outreach id of its own and counts every answer other than
201. In one run, for each ``--connections`` value (16 and 64):

- ``floor``: the same POSTs to ``bench/floor_app.py`` (a route that does nothing);
- ``single``: ``POST /v1/participants/{id}/events`` against ``peoplelinks api``;

then the eventsourcing library's single-event ``Application.save`` (``es_single``,
16 threads, the peer) and ``POST /v1/events:batch`` (``http_batch``, bench/append.py's,
to check that batches keep their rate). It uses ``bench/append.py``'s setup (databases,
programme, contacts, participants), CPU accounting from /proc and report helpers, and
writes the section "Single-event POSTs with wrk (bench/single.py)" of bench/RESULTS.md.

Run: ``python -m bench.single`` (about 5 minutes), ``python -m bench.single --quick`` (smoke check).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from bench import append as bench
from bench.append import (
    NOTES_END,
    NOTES_START,
    REPO,
    Clock,
    Result,
    Server,
    World,
    console,
    cpu_delta,
    cpu_snapshot,
    enrol_participants,
    login,
    run_async,
    settle,
)

SECTION = "## Single-event POSTs with wrk (bench/single.py)"
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
SCRIPT = REPO / "bench" / "wrk" / "single_event.lua"
SCENARIOS = ("floor", "single", "es_single", "http_batch")

AIM_SINGLE = 1_500
AIM_PEER_RATIO = 1.5
AIM_P99_MS = 50.0
AIM_BATCH = 20_000
AIM_CONNECTIONS = 16


@dataclass
class WrkRun:
    """One wrk run: its figures, and the CPU each process used meanwhile."""

    key: str
    label: str
    connections: int
    threads: int
    seconds: float
    requests: int
    non201: int
    socket_errors: int
    statuses: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu: dict[str, float] = field(default_factory=dict)
    load_before: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def valid(self) -> bool:
        """A run with any answer other than 201, or any socket error, is not a figure."""
        return self.non201 == 0 and self.socket_errors == 0 and self.requests > 0

    def cpu_cores(self) -> str:
        names = {"wrk": "wrk", "server": "API", "postgres": "PG", "redis": "Redis", "other": "other"}
        return " · ".join(
            f"{label} {self.cpu.get(key, 0.0) / self.seconds:.2f}"
            for key, label in names.items()
            if key != "redis" or self.cpu.get(key, 0.0) / self.seconds >= 0.005
        )


_LATENCY_LINE = re.compile(r"^\s+(50|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_RATE_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON2XX_LINE = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET_LINE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TOTAL_LINE = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


class WrkFigures(msgspec.Struct, frozen=True):
    """What the script's done() prints on its ``plwrk`` line."""

    requests: int
    duration_us: int
    non201: int
    statuses: dict[str, int]
    connect_errors: int
    read_errors: int
    write_errors: int
    status_errors: int
    timeouts: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    mean_us: float


def parse_wrk(output: str) -> tuple[WrkFigures, float]:
    """The script's figures, checked against wrk's own report (requests/s, --latency percentiles, non-2xx)."""
    line = next((x for x in output.splitlines() if x.startswith("plwrk ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no plwrk line:\n{output[-3000:]}")
    figures = msgspec.json.decode(line.removeprefix("plwrk "), type=WrkFigures)
    rate = _RATE_LINE.search(output)
    if rate is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{output[-3000:]}")
    # wrk's own summary: every non-2xx counted by wrk is also non-201 for the script; the script counts 2xx
    # answers other than 201 too.
    non2xx = _NON2XX_LINE.search(output)
    if non2xx is not None and int(non2xx.group(1)) > figures.non201:
        raise RuntimeError(f"wrk counted {non2xx.group(1)} non-2xx answers, the script {figures.non201}")
    printed = {m.group(1): _ms(m.group(2), m.group(3)) for m in _LATENCY_LINE.finditer(output)}
    if "99" not in printed:
        raise RuntimeError(f"wrk printed no --latency distribution:\n{output[-3000:]}")
    return figures, float(rate.group(1))


def write_params(path: Path, token: str, world: World, participants: Sequence[uuid.UUID], threads: int) -> None:
    lines = [f"token {token}", f"occurred_at {world.clock.outreach_wire}", f"threads {threads}"]
    lines += [f"participant {p}" for p in participants]
    lines += [f"contact {c}" for c in world.contacts]
    path.write_text("\n".join(lines) + "\n")


def run_wrk(
    key: str,
    label: str,
    server: Server,
    params: Path,
    connections: int,
    threads: int,
    seconds: int,
    warmup_seconds: int,
    profile_dir: Path | None = None,
) -> WrkRun:
    """A warm-up run (not kept), then the timed run, with the CPU of every process meanwhile."""
    base = ["wrk", f"-t{threads}", f"-c{connections}", "--latency", "-s", str(SCRIPT), server.base_url]
    if warmup_seconds > 0:
        warm = subprocess.run(
            [*base[:1], f"-d{warmup_seconds}s", *base[1:], "--", str(params)],
            check=False,
            capture_output=True,
            text=True,
        )
        if warm.returncode != 0:
            raise RuntimeError(f"wrk warm-up failed: {warm.stderr[-2000:]}")
    settle(key)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    children = os.times()
    cpu_before = cpu_snapshot(server.pid)
    with bench.profiled(profile_dir, key, server.pid):
        started = time.perf_counter()
        command = [*base[:1], f"-d{seconds}s", *base[1:], "--", str(params)]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        wall = time.perf_counter() - started
        cpu = cpu_delta(cpu_before, cpu_snapshot(server.pid))
    after = os.times()
    cpu["wrk"] = (after.children_user - children.children_user) + (after.children_system - children.children_system)
    # cpu_delta counted wrk under "other"; it has its own column here.
    cpu["other"] = max(0.0, cpu["other"] - cpu["wrk"])
    cpu.pop("bench", None)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    figures, _ = parse_wrk(done.stdout)
    if done.stderr.strip():
        console.print(f"[yellow]{key}: {done.stderr.strip()[:600]}[/]")
    duration = figures.duration_us / 1e6
    # CPU per second of wrk's own duration (the process also starts and stops around it).
    scale = duration / wall if wall > 0 else 1.0
    return WrkRun(
        key=key,
        label=label,
        connections=connections,
        threads=threads,
        seconds=duration,
        requests=figures.requests,
        non201=figures.non201,
        socket_errors=figures.connect_errors + figures.read_errors + figures.write_errors + figures.timeouts,
        statuses=figures.statuses,
        p50_ms=figures.p50_us / 1000,
        p90_ms=figures.p90_us / 1000,
        p99_ms=figures.p99_us / 1000,
        max_ms=figures.max_us / 1000,
        cpu={k: v * scale for k, v in cpu.items()},
        load_before=load,
    )


@dataclass
class Config:
    connections: list[int]
    threads: int
    seconds: int
    warmup_seconds: int
    workers: int
    participants: int
    es_single_events: int
    es_threads: int
    batch_events: int
    scenarios: set[str]
    profile_dir: Path | None = None


def run_all(world: World, config: Config, log_dir: Path) -> tuple[list[WrkRun], list[Result]]:
    runs: list[WrkRun] = []
    others: list[Result] = []
    if "floor" in config.scenarios:
        server = Server(world, config.workers, log_dir, floor=True)
        try:
            run_async(server.wait_ready())
            params = log_dir / "floor-params.txt"
            write_params(params, "not-checked", world, [uuid.uuid4() for _ in range(config.participants)], 2)
            for c in config.connections:
                runs.append(
                    run_wrk(
                        f"floor_c{c}",
                        f"floor: the same POSTs to a route that does nothing (bench/floor_app.py), "
                        f"{config.workers} uvicorn worker(s)",
                        server,
                        params,
                        c,
                        config.threads,
                        config.seconds,
                        config.warmup_seconds,
                    )
                )
        finally:
            server.stop()
    if "single" in config.scenarios or "http_batch" in config.scenarios:
        server = Server(world, config.workers, log_dir)
        try:
            run_async(server.wait_ready())
            token = run_async(login(server.base_url, world.admin_email))
            if "single" in config.scenarios:
                people = run_async(enrol_participants(world, config.participants))
                params = log_dir / "single-params.txt"
                write_params(params, token, world, people, config.threads)
                for c in config.connections:
                    runs.append(
                        run_wrk(
                            f"single_c{c}",
                            f"`POST /v1/participants/{{id}}/events`, `peoplelinks api --workers {config.workers}`",
                            server,
                            params,
                            c,
                            config.threads,
                            config.seconds,
                            config.warmup_seconds,
                            config.profile_dir,
                        )
                    )
            if "http_batch" in config.scenarios:

                async def batched() -> Result:
                    people = await enrol_participants(world, 4 * 500)
                    with bench.make_progress() as progress:
                        return await bench.http_batch(
                            server,
                            token,
                            world,
                            people,
                            config.batch_events,
                            4,
                            1_000,
                            10,
                            progress,
                            config.profile_dir,
                        )

                others.append(run_async(batched()))
        except Exception:
            console.print(f"[red]API server log:[/]\n{server.log_tail()}")
            raise
        finally:
            server.stop()
    if "es_single" in config.scenarios:
        with bench.make_progress() as progress:
            others += bench.eventsourcing_scenarios(
                world,
                0,
                config.es_single_events,
                8,
                config.es_threads,
                100,
                10,
                progress,
                None,
                run_batch=False,
                run_single=True,
            )
    return runs, others


def aims(runs: list[WrkRun], others: list[Result]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    by_key = {r.key: r for r in runs}
    peer = next((r for r in others if r.key == "es_single"), None)
    batch = next((r for r in others if r.key.startswith("http_batch")), None)
    main = by_key.get(f"single_c{AIM_CONNECTIONS}")
    if main is not None:
        figure = f"{main.rate:,.0f}" + ("" if main.valid else f" (not valid: {main.non201} non-201)")
        rows.append(
            (
                f"single-event POSTs with {AIM_CONNECTIONS} connections ≥ {AIM_SINGLE:,}/s",
                figure,
                verdict(main.valid and main.rate >= AIM_SINGLE),
            )
        )
        if peer is not None:
            rows.append(
                (
                    f"≥ {AIM_PEER_RATIO}× the eventsourcing library's single save in the same run",
                    f"{main.rate:,.0f} vs {peer.rate:,.0f} ({main.rate / peer.rate:.2f}×)",
                    verdict(main.valid and main.rate >= AIM_PEER_RATIO * peer.rate),
                )
            )
    for run in runs:
        if run.key.startswith("single_"):
            rows.append(
                (
                    f"p99 ≤ {AIM_P99_MS:.0f} ms, {run.connections} connections",
                    f"{run.p99_ms:.1f} ms",
                    verdict(run.valid and run.p99_ms <= AIM_P99_MS),
                )
            )
    if batch is not None:
        rows.append((f"batch POSTs ≥ {AIM_BATCH:,} events/s", f"{batch.rate:,.0f}", verdict(batch.rate >= AIM_BATCH)))
    return rows


def table(runs: list[WrkRun], others: list[Result]) -> list[str]:
    lines = [
        "| scenario | connections / clients | seconds | requests | non-201 | requests/s (events/s) "
        "| p50 ms | p99 ms | max ms | CPU cores busy in the timed phase | load average before |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in runs:
        errors = f"{r.non201:,}" + (f" + {r.socket_errors} socket errors" if r.socket_errors else "")
        lines.append(
            f"| {r.label} | {r.connections} | {r.seconds:.1f} | {r.requests:,} | {errors} | **{r.rate:,.0f}** "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | {r.cpu_cores()} | {r.load_before} |"
        )
    for o in others:
        p99 = o.percentile(0.99)
        lines.append(
            f"| {o.label}{f' ({o.note})' if o.note else ''} | {o.concurrency} | {o.seconds:.1f} | {o.requests:,} | "
            f"| **{o.rate:,.0f}** | {o.p50 or 0:.1f} | {p99 or 0:.1f} | | {o.cpu_cores()} | |"
        )
    return lines


def section(world: World, config: Config, runs: list[WrkRun], others: list[Result], command: str, notes: str) -> str:
    info = world.server_info
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wrk_version = (
        subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True).stdout.split("\n")[0].strip()
    )
    lines = [
        SECTION,
        "",
        f"Measured {when} with `{command}`, {bench.code_under_test()}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; wrk, the API server and PostgreSQL share the cores "
        "(and so does whatever else ran: the `other` CPU column, and the load average before each run).",
        f"- PostgreSQL {info.get('version', '?')}: fsync={info.get('fsync', '?')}, "
        f"synchronous_commit={info.get('synchronous_commit', '?')}, commit_delay={info.get('commit_delay', '?')} "
        "(read from the server; the bench changes nothing).",
        f"- Load: `{wrk_version or 'wrk'}`, `wrk -t{config.threads} -c<connections> -d{config.seconds}s --latency "
        f"-s bench/wrk/single_event.lua`, after a {config.warmup_seconds} s warm-up run that is not kept. Each "
        "request is one `outreach_sent` with an event id and an outreach id of its own, to one of "
        f"{config.participants:,} participants (each wrk thread walks its own share in turn, so no two requests "
        "in flight name the same stream). Every answer other than 201 is counted: a run with any is no figure.",
        f"- Peer: the eventsourcing library's single-event `Application.save`, {config.es_threads} threads "
        "(bench/append.py's `es_single`), in the same run. Batch: bench/append.py's `http_batch` "
        "(4 httpx clients, 1,000 events a request over 100 participants) against the same API process.",
        "- CPU: seconds of CPU used during the timed run divided by its duration, from /proc; `other` is "
        "everything else the machine ran meanwhile (other sessions' work included).",
        "",
        *table(runs, others),
        "",
        "### Aims",
        "",
        "| aim | figure | verdict |",
        "| --- | --- | --- |",
        *[f"| {aim} | {figure} | {verdict} |" for aim, figure, verdict in aims(runs, others)],
        "",
    ]
    if notes:
        lines += [notes, ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.single",
        description="Single-event POSTs with wrk, beside the floor route and the eventsourcing library.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("PEOPLELINKS_BENCH_DSN", "postgresql://postgres@localhost:5432/postgres"),
        help="PostgreSQL server to create the bench databases on (env PEOPLELINKS_BENCH_DSN)",
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke check (writes nothing)")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated among {', '.join(SCENARIOS)}")
    parser.add_argument("--connections", default="16,64", help="wrk connection counts, comma-separated")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--seconds", type=int, default=20, help="length of each timed wrk run")
    parser.add_argument("--warmup-seconds", type=int, default=3, help="length of the untimed wrk run before each")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the API and the floor app")
    parser.add_argument("--participants", type=int, default=1024, help="participants the POSTs go to")
    parser.add_argument("--es-single-events", type=int, default=20_000, help="events of the eventsourcing saves")
    parser.add_argument("--es-threads", type=int, default=16, help="threads of the eventsourcing saves")
    parser.add_argument(
        "--batch-events", type=int, default=200_000, help="events of the batch POSTs (4 clients, 1,000 a request)"
    )
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for a quiet machine")
    parser.add_argument("--results", type=Path, default=None, help="Markdown file to write (default bench/RESULTS.md)")
    parser.add_argument("--no-results", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="sample the API server with py-spy during its runs (no figures)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup_seconds, args.quiet_wait = 2, 1, 0.0
        args.es_single_events, args.batch_events = 400, 2_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        console.print("[red]wrk is not installed (apt-get install wrk)[/]")
        return 2
    bench.QUIET["limit_seconds"] = args.quiet_wait
    bench.RETRY["tries"] = 1
    scenarios = {s.strip() for s in args.only.split(",") if s.strip()}
    if scenarios - set(SCENARIOS):
        console.print(f"[red]unknown scenarios: {', '.join(sorted(scenarios - set(SCENARIOS)))}[/]")
        return 2
    config = Config(
        connections=[int(c) for c in args.connections.split(",") if c.strip()],
        threads=args.threads,
        seconds=args.seconds,
        warmup_seconds=args.warmup_seconds,
        workers=args.workers,
        participants=args.participants,
        es_single_events=args.es_single_events,
        es_threads=args.es_threads,
        batch_events=args.batch_events,
        scenarios=scenarios,
        profile_dir=args.profile_dir,
    )
    suffix = uuid.uuid4().hex[:8]
    db_name = f"plbench_{suffix}"
    world = World(
        server_dsn=args.dsn,
        db_name=db_name,
        es_db_name=f"{db_name}_es",
        database_url=bench.with_database(args.dsn, db_name),
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
    console.print(f"databases [bold]{world.db_name}[/] and [bold]{world.es_db_name}[/]; logs in {log_dir}")
    run_async(bench.create_databases(world))
    try:
        run_async(bench.setup_programme(world))
        runs, others = run_all(world, config, log_dir)
    finally:
        if args.keep:
            console.print(f"kept databases {world.db_name} and {world.es_db_name}")
        else:
            run_async(bench.drop_databases(world))
            run_async(bench.drop_redis_keys(world))
    for line in table(runs, others) + [""] + [f"{a}: {f} {v}" for a, f, v in aims(runs, others)]:
        console.print(line, highlight=False, markup=False)
    invalid = [r.key for r in runs if not r.valid]
    if invalid:
        console.print(f"[red]runs with answers other than 201 (no figure): {', '.join(invalid)}[/]")
    command = ("python -m bench.single " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    path = args.results if args.results is not None else (None if args.quick else DEFAULT_RESULTS)
    if path is not None and not args.no_results:
        notes = bench.old_notes(path, SECTION) or f"{NOTES_START}\n{NOTES_END}"
        bench.write_results(path, section(world, config, runs, others, command, notes), SECTION)
        console.print(f"wrote {path}")
    if args.json is not None:
        args.json.write_text(
            msgspec.json.encode(
                {
                    "wrk": [{**r.__dict__, "rate": r.rate} for r in runs],
                    "others": [
                        {"key": o.key, "rate": o.rate, "p50_ms": o.p50, "p99_ms": o.percentile(0.99), "cpu": o.cpu}
                        for o in others
                    ],
                }
            ).decode()
        )
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
