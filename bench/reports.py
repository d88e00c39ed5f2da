"""Report latency: the outcome report (JSON, staff and funders), the response-rate dashboard, and the exports.

A benchmark, not a test. It uses the store of ``bench/projections.py`` (a
programme of 5,000 participants and 1,000,000 events by default): a new one,
generated the same way, or one kept before (``--database``). The read models
are caught up first (untimed); then a real ``peoplelinks api`` process serves:

- ``GET /v1/reports/outcomes`` as staff and as a funder over varied
  ``from``/``to``/``as_of``; the first request of the process is reported
  apart (cold);
- ``GET /v1/dashboards/response-rates`` over varied periods and groupings;
- the CSV, XLSX and PDF exports (``format=``), or when the API does not serve
  them, ``infra.exports`` rendering a report body in process.

One client asks, one request at a time, so the figures are latencies, not
throughput. The figures go to ``bench/RESULTS.md`` (section "Reports (bench/reports.py)"; other sections kept).

Run: ``python -m bench.reports`` (a few minutes with a new store), ``python -m bench.reports --quick`` (smoke check).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from rich.table import Table

from bench.append import (
    QUIET,
    code_under_test,
    console,
    cpu_delta,
    cpu_snapshot,
    drop_redis_keys,
    make_progress,
    profiled,
)
from bench.append import run_async as run
from bench.projections import (
    NOTES_END,
    NOTES_START,
    STORES_INFO,
    BenchStore,
    Service,
    add_store_arguments,
    catch_up_all,
    describe_store,
    drop_database,
    login,
    open_or_build,
    pct,
    proc_memory_mb,
    start_api,
    wait_ready,
    with_worker,
    write_section,
)

SECTION = "## Reports (bench/reports.py)"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = REPO / "bench" / "RESULTS.md"
AIM_JSON_P95_MS = 200.0
PHASES = ("outcomes", "dashboard", "exports")
FORMATS = ("csv", "xlsx", "pdf")
MEDIA = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats", "pdf": "application/pdf"}
GROUP_BYS = (None, "channel", "purpose", "attempt", "cohort", "week", "counselor")


@dataclass
class Timing:
    """One timed series of requests."""

    key: str
    label: str
    audience: str
    latencies: list[float] = field(default_factory=list)  # seconds
    sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def p(self, q: float) -> float | None:
        value = pct(self.latencies, q)
        return None if value is None else value * 1000


# --------------------------------------------------------------------------- parameters


def report_queries(rng: random.Random, store: BenchStore, count: int) -> list[dict[str, str]]:
    """Varied periods of the outcome report: whole years, quarters, months, the whole span; as_of at or after ``to``."""
    until = store.until.date()
    first = dt.date(2025, 1, 1)
    queries: list[dict[str, str]] = []
    for n in range(count):
        kind = n % 4
        if kind == 0:
            year = rng.choice([y for y in range(first.year, until.year + 1)])
            start, end = dt.date(year, 1, 1), min(dt.date(year, 12, 31), until)
        elif kind == 1:
            start = _month_start(first, until, rng, step=3)
            end = min(_add_months(start, 3) - dt.timedelta(days=1), until)
        elif kind == 2:
            start = _month_start(first, until, rng, step=1)
            end = min(_add_months(start, 1) - dt.timedelta(days=1), until)
        else:
            start, end = first, until
        query = {"from": start.isoformat(), "to": end.isoformat()}
        if rng.random() < 0.8:
            query["as_of"] = min(until, end + dt.timedelta(days=rng.randint(0, 180))).isoformat()
        queries.append(query)
    return queries


def dashboard_queries(rng: random.Random, store: BenchStore, count: int, funder: bool) -> list[dict[str, str]]:
    """Varied periods (a month, a quarter, a year) and groupings of the response-rate dashboard."""
    until = store.until.date()
    first = dt.date(2025, 1, 1)
    queries: list[dict[str, str]] = []
    groupings = [g for g in GROUP_BYS if not (funder and g == "counselor")]
    for n in range(count):
        months = (1, 3, 12)[n % 3]
        start = _month_start(first, until, rng, step=1)
        end = min(_add_months(start, months) - dt.timedelta(days=1), until)
        query = {"from": start.isoformat(), "to": end.isoformat()}
        if rng.random() < 0.5:
            query["as_of"] = min(until, end + dt.timedelta(days=rng.randint(0, 60))).isoformat()
        group_by = groupings[n % len(groupings)]
        if group_by is not None:
            query["group_by"] = group_by
        queries.append(query)
    return queries


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_start(first: dt.date, until: dt.date, rng: random.Random, step: int) -> dt.date:
    months = (until.year - first.year) * 12 + until.month - first.month
    offset = rng.randrange(0, max(1, months), step)
    return _add_months(first, offset)


# --------------------------------------------------------------------------- over HTTP


async def timed_series(
    http: httpx.AsyncClient,
    path: str,
    queries: Sequence[dict[str, str]],
    timing: Timing,
    *,
    api_pid: int,
    check: Callable[[httpx.Response], None],
    progress: Any,
) -> Timing:
    task = progress.add_task(f"{timing.label} ({timing.audience})", total=len(queries))
    before = cpu_snapshot(api_pid)
    started = time.perf_counter()
    for query in queries:
        asked = time.perf_counter()
        response = await http.get(path, params=query)
        timing.latencies.append(time.perf_counter() - asked)
        check(response)
        timing.sizes.append(len(response.content))
        progress.advance(task)
    timing.seconds = time.perf_counter() - started
    timing.cpu = cpu_delta(before, cpu_snapshot(api_pid))
    return timing


def expect_json(response: httpx.Response) -> None:
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith("application/json"):
        raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text[:300]}")


async def measure_http(
    store: BenchStore, base_url: str, api: Service, args: argparse.Namespace
) -> tuple[list[Timing], Timing | None, dict[str, Any]]:
    """Every series over HTTP: the cold first report, then warm reports, dashboards and exports."""
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    rng = random.Random(args.seed)
    tokens = {
        "staff": await login(base_url, store.big.staff_email, store.password),
        "funder": await login(base_url, store.big.funder_email, store.password),
    }
    clients = {
        who: httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        for who, token in tokens.items()
    }
    timings: list[Timing] = []
    extra: dict[str, Any] = {}
    try:
        # The first request of the process (connections, plans and PostgreSQL's buffers still cold).
        first_query = {"from": "2025-01-01", "to": store.until.date().isoformat()}
        asked = time.perf_counter()
        response = await clients["staff"].get("/v1/reports/outcomes", params=first_query)
        cold = Timing(key="cold", label="outcome report, first request of the process (cold)", audience="staff")
        cold.latencies.append(time.perf_counter() - asked)
        expect_json(response)
        cold.sizes.append(len(response.content))
        extra["cold_position"] = response.json()["global_position"]
        with make_progress() as progress:
            if "outcomes" in phases:
                for who in ("staff", "funder"):
                    await asyncio.to_thread(_settle, f"outcomes {who}")
                    with profiled(args.profile_dir, f"outcomes_{who}", api.pid):
                        timings.append(
                            await timed_series(
                                clients[who],
                                "/v1/reports/outcomes",
                                report_queries(rng, store, args.requests),
                                Timing(key=f"outcomes_{who}", label="GET /v1/reports/outcomes (JSON)", audience=who),
                                api_pid=api.pid,
                                check=expect_json,
                                progress=progress,
                            )
                        )
            if "dashboard" in phases:
                for who in ("staff", "funder"):
                    await asyncio.to_thread(_settle, f"dashboard {who}")
                    with profiled(args.profile_dir, f"dashboard_{who}", api.pid):
                        timings.append(
                            await timed_series(
                                clients[who],
                                "/v1/dashboards/response-rates",
                                dashboard_queries(rng, store, args.requests, funder=who == "funder"),
                                Timing(key=f"dashboard_{who}", label="GET /v1/dashboards/response-rates", audience=who),
                                api_pid=api.pid,
                                check=expect_json,
                                progress=progress,
                            )
                        )
            if "exports" in phases:
                timings += await measure_exports(clients, store, api, args, rng, progress)
    finally:
        for client in clients.values():
            await client.aclose()
    return timings, cold, extra


def _settle(name: str) -> None:
    from bench.append import settle

    settle(name)


async def measure_exports(
    clients: dict[str, httpx.AsyncClient],
    store: BenchStore,
    api: Service,
    args: argparse.Namespace,
    rng: random.Random,
    progress: Any,
) -> list[Timing]:
    """``format=csv|xlsx|pdf`` over HTTP when served; else ``infra.exports`` on a report body, in process."""
    timings: list[Timing] = []
    queries = report_queries(rng, store, args.export_requests)
    probe = await clients["staff"].get("/v1/reports/outcomes", params={**queries[0], "format": "csv"})
    served = probe.status_code == 200 and probe.headers.get("content-type", "").startswith("text/csv")
    for fmt in FORMATS:
        for who in ("staff", "funder"):
            if served:

                def check(response: httpx.Response, fmt: str = fmt) -> None:
                    if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
                        MEDIA[fmt]
                    ):
                        raise RuntimeError(f"export {fmt} answered {response.status_code}: {response.text[:300]}")

                with profiled(args.profile_dir, f"export_{fmt}_{who}", api.pid):
                    timings.append(
                        await timed_series(
                            clients[who],
                            "/v1/reports/outcomes",
                            [{**q, "format": fmt} for q in queries],
                            Timing(
                                key=f"export_{fmt}_{who}", label=f"GET /v1/reports/outcomes?format={fmt}", audience=who
                            ),
                            api_pid=api.pid,
                            check=check,
                            progress=progress,
                        )
                    )
            else:
                timings.append(await render_in_process(clients[who], store, fmt, who, queries, progress))
    return timings


async def render_in_process(
    http: httpx.AsyncClient, store: BenchStore, fmt: str, who: str, queries: Sequence[dict[str, str]], progress: Any
) -> Timing:
    """The API serves no exports yet: render report bodies it answered with ``infra.exports`` (render time only)."""
    from infra import exports

    render = {"csv": exports.report_csv, "xlsx": exports.report_xlsx, "pdf": exports.report_pdf}[fmt]
    timing = Timing(
        key=f"export_{fmt}_{who}",
        label=f"`infra.exports.report_{fmt}` in process (the API serves no format=)",
        audience=who,
        note="render only",
    )
    task = progress.add_task(f"render {fmt} ({who})", total=len(queries))
    for query in queries:
        response = await http.get("/v1/reports/outcomes", params=query)
        expect_json(response)
        body = response.json()
        started = time.perf_counter()
        content = render(body, store.big.name, suppress_below=11)
        timing.latencies.append(time.perf_counter() - started)
        timing.sizes.append(len(content))
        progress.advance(task)
    timing.seconds = sum(timing.latencies)
    return timing


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _cores(t: Timing) -> str:
    if not t.cpu or t.seconds <= 0:
        return ""
    return f"API {t.cpu.get('server', 0.0) / t.seconds:.2f} · PG {t.cpu.get('postgres', 0.0) / t.seconds:.2f}"


def aims(timings: list[Timing], cold: Timing | None) -> list[tuple[str, str, str, str, str]]:
    """(figure, measured, aim, verdict, where the time goes) of every aim the run allows judging."""
    rows = []
    for t in timings:
        if not t.key.startswith(("outcomes_", "dashboard_")):
            continue
        p95 = t.p(0.95)
        rows.append(
            (
                f"{t.label}, {t.audience}, warm, p95",
                f"{_fmt(p95)} ms (p50 {_fmt(t.p(0.5))})",
                f"< {AIM_JSON_P95_MS:.0f} ms",
                "**met**" if p95 is not None and p95 < AIM_JSON_P95_MS else "**missed**",
                f"CPU cores busy: {_cores(t)}",
            )
        )
    if cold is not None:
        rows.append((cold.label, f"{_fmt(cold.p(0.5))} ms", "none set (reported apart)", "–", ""))
    return rows


def section(
    args: argparse.Namespace,
    store: BenchStore,
    timings: list[Timing],
    cold: Timing | None,
    memory: dict[str, float],
    command: str,
    notes: str,
) -> str:
    info = STORES_INFO
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Measured {when} with `{command}`, {code_under_test()}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; the bench, the API server and PostgreSQL share the cores.",
        f"- PostgreSQL {info.get('version', '?')}: fsync={info.get('fsync', '?')}, "
        f"synchronous_commit={info.get('synchronous_commit', '?')}, "
        f"wal_sync_method={info.get('wal_sync_method', '?')}, full_page_writes={info.get('full_page_writes', '?')}, "
        f"shared_buffers={info.get('shared_buffers', '?')}, work_mem={info.get('work_mem', '?')} "
        "(read from the server; the bench changes nothing).",
        f"- Store: {describe_store(store)}. Read models caught up before the API starts.",
        f"- `peoplelinks api --workers {args.api_workers}`; one httpx client a role (staff, funder of the big "
        f"programme), one request at a time (latency, not throughput). {args.requests} requests a series with "
        "varied parameters: the report over whole years, quarters, months and the whole span, `as_of` at or up to "
        "180 days after `to` (or today); the dashboard over a month, a quarter or a year, grouped by nothing, "
        "channel, purpose, attempt, cohort, week or (staff) counselor. Cold: the process's first report; "
        "every later request is warm.",
        "- Memory of the API process (VmRSS / VmHWM from /proc): "
        + ", ".join(f"{k} {v:,.0f} MB" for k, v in memory.items())
        + ".",
        "",
        "| request | audience | requests | p50 ms | p95 ms | max ms | mean size KB | CPU cores busy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for t in ([cold] if cold is not None else []) + timings:
        size = statistics.mean(t.sizes) / 1024 if t.sizes else 0.0
        lines.append(
            f"| {t.label} | {t.audience} | {len(t.latencies)} | {_fmt(t.p(0.5))} | {_fmt(t.p(0.95))} "
            f"| {_fmt(max(t.latencies) * 1000 if t.latencies else None)} | {size:,.1f} | {_cores(t)} |"
        )
    lines += [
        "",
        "### Aims",
        "",
        "| figure | measured | aim | verdict | where the time goes |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in aims(timings, cold)],
    ]
    lines.append("")
    if notes:
        lines += [notes, ""]
    return "\n".join(lines)


def old_notes(path: Path) -> str:
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find(SECTION)
    if start < 0:
        return ""
    following = text.find("\n## ", start + len(SECTION))
    end_of_section = following if following >= 0 else len(text)
    begin = text.find(NOTES_START, start, end_of_section)
    end = text.find(NOTES_END, start, end_of_section)
    return text[begin : end + len(NOTES_END)] if 0 <= begin < end else ""


def print_results(timings: list[Timing], cold: Timing | None) -> None:
    table = Table(title="Reports")
    for column in ("request", "audience", "n", "p50 ms", "p95 ms", "max ms", "cores"):
        table.add_column(column)
    for t in ([cold] if cold is not None else []) + timings:
        table.add_row(
            t.label,
            t.audience,
            str(len(t.latencies)),
            _fmt(t.p(0.5)),
            _fmt(t.p(0.95)),
            _fmt(max(t.latencies) * 1000 if t.latencies else None),
            _cores(t),
        )
    console.print(table)
    for row in aims(timings, cold):
        console.print(" · ".join(cell.replace("**", "") for cell in row))


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports",
        description="Latency of the outcome report (JSON, staff and funders), the response-rate dashboard and the "
        "report exports, over the generated store of bench/projections.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_store_arguments(parser)
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {', '.join(PHASES)}")
    parser.add_argument("--requests", type=int, default=100, help="requests a series (report or dashboard, per role)")
    parser.add_argument("--export-requests", type=int, default=5, help="requests a series of each export format")
    parser.add_argument("--api-workers", type=int, default=1, help="`peoplelinks api --workers`")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in (
            ("events", 20_000),
            ("participants", 100),
            ("requests", 10),
            ("export_requests", 2),
            ("quiet_wait", 0.0),
        ):
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
        args.validate = True
    return args


async def forget_exports(store: BenchStore) -> None:
    """As the owner: no export rendered yet, so that each PDF measured is rendered, not served from an earlier run."""
    import asyncpg

    conn = await asyncpg.connect(store.database_url)
    try:
        await conn.execute("DELETE FROM report_exports")
    finally:
        await conn.close()


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
    store: BenchStore | None = None
    timings: list[Timing] = []
    cold: Timing | None = None
    memory: dict[str, float] = {}
    try:
        store = run(open_or_build(args))
        run(catch_up_all(store))
        run(forget_exports(store))
        secret = secrets.token_urlsafe(48)
        api, base_url = start_api(store, redis_prefix, secret, log_dir, args.api_workers)
        # The worker renders the PDFs (and keeps the monthly reports at its start, which is waited for first,
        # so that it does not share the cores with the measured requests).
        worker, settled = with_worker(store, redis_prefix, secret, log_dir, settle_seconds=600)
        memory["worker peak RSS since its start (catch-up, monthly reports kept in chunks)"] = proc_memory_mb(
            worker.pid
        )[1]
        console.print(f"worker settled in {settled:.1f} s")
        try:
            run(wait_ready(api, base_url))
            memory["API RSS after start"] = proc_memory_mb(api.pid)[0]
            timings, cold, _ = run(measure_http(store, base_url, api, args))
            memory["API RSS after the series"], memory["API peak RSS"] = proc_memory_mb(api.pid)
            memory["worker RSS after the series"] = proc_memory_mb(worker.pid)[0]
        except BaseException:
            console.print(f"[red]API log:[/]\n{api.log_tail()}")
            console.print(f"[red]worker log:[/]\n{worker.log_tail()}")
            raise
        finally:
            api.stop()
            worker.stop()
    finally:
        if store is not None and not args.database:
            if args.keep:
                console.print(f"kept database [bold]{store.db_name}[/] (reuse it with --database)")
            else:
                run(drop_database(args.dsn, store.db_name))
        run(drop_redis_keys(SimpleNamespace(redis_prefix=redis_prefix)))
    print_results(timings, cold)
    console.print(" · ".join(f"{k} {v:,.0f} MB" for k, v in memory.items()))
    command = "python -m bench.reports " + " ".join(sys.argv[1:] if argv is None else argv)
    results_path = args.results
    if results_path is None and not args.quick:
        results_path = DEFAULT_RESULTS
    if results_path is not None and not args.no_results:
        assert store is not None
        text = section(args, store, timings, cold, memory, command.strip(), old_notes(results_path))
        write_section(results_path, SECTION, text)
        console.print(f"wrote {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
