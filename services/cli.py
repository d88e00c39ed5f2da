"""The ``peoplelinks`` command: migrate, api, worker, up, demo-data, import, programme, rebuild, erasures."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import uuid
from pathlib import Path

import click

from infra.settings import Settings
from projections.checkpoints import BATCH_SIZE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """PeopleLinks: outcome tracking for reentry employment programmes.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL,
    PEOPLELINKS_SECRET_KEY and the others listed in docs/configuration.md.
    """


@main.command()
def migrate() -> None:
    """Apply database migrations (idempotent; safe from several processes at once)."""
    from infra.db import connect_owner
    from infra.migrate import migrate as run_migrations

    async def run() -> list[str]:
        conn = await connect_owner(Settings.from_env())
        try:
            return await run_migrations(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    click.echo(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
def api(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (OpenAPI at /schema) and the web dashboards.

    Health: /health/live, /health/ready. Prometheus metrics: /metrics, to the
    addresses of PEOPLELINKS_METRICS_ALLOW (loopback by default) or with
    PEOPLELINKS_METRICS_TOKEN; with several workers, every scrape adds up all
    of them. Logs: JSON lines on standard error (PEOPLELINKS_LOG_FORMAT).
    """
    import tempfile

    import uvicorn

    from services.observability import configure_logging

    if os.environ.get("PEOPLELINKS_SECRET_KEY") is None and workers > 1:
        raise click.UsageError("set PEOPLELINKS_SECRET_KEY when running several workers (they must share it)")
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    with tempfile.TemporaryDirectory(prefix="peoplelinks-metrics-") as metrics_dir:
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Before the workers start (prometheus_client reads it on import): each writes its counters
            # there, and a scrape of any of them adds up all of them.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run(
            "services.api.asgi:build",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,  # the process's JSON logging (services/observability.py) takes uvicorn's records
            log_level=settings.log_level.lower(),
            access_log=False,  # it would log raw paths with ids; RequestCycle logs the route template
            # Forwarded headers only from the proxies named in PEOPLELINKS_TRUSTED_PROXIES (none by default).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=",".join(settings.trusted_proxies) if settings.trusted_proxies else None,
        )


@main.command()
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    envvar="PEOPLELINKS_WORKER_METRICS_PORT",
    help="Serve this worker's Prometheus metrics (jobs by outcome) on this port.  [default: none]",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="PEOPLELINKS_WORKER_METRICS_HOST",
    help="Interface of the metrics port: keep it private (no token is asked there).",
)
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Run the worker: projections (woken through arq, and swept every second), scheduled jobs."""
    import signal

    from services.observability import configure_logging
    from services.worker.app import run_worker

    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo("worker running; Ctrl-C to stop", err=True)
        await run_worker(settings, stop=stop)

    from services import heap

    heap.settle()
    asyncio.run(run())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the API listens on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port the API listens on.")
@click.option(
    "--data-dir",
    default=".peoplelinks",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the embedded PostgreSQL, the secret key and the demo credentials are kept.",
)
@click.option(
    "--participants",
    default=300,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Demo participants recorded the first time (the demo is recorded once).",
)
def up(host: str, port: int, data_dir: Path, participants: int) -> None:
    """Everything for a first look: database, demo data, API, dashboards and worker in one process.

    PostgreSQL and Redis are embedded when DATABASE_URL / REDIS_URL are unset (a
    private cluster kept in DATA_DIR/postgres and a Redis that persists nothing,
    on free ports of 127.0.0.1; install them with scripts/services.sh
    --install-only). Then migrations, a demo programme with an admin, a staff
    user, two counselors and a funder, and a few hundred participants' events
    over 2025-2026; prints the URLs and the demo logins. Ctrl-C stops it all.
    """
    from services.up import CannotStart, UpOptions, run_up

    options = UpOptions(host=host, port=port, data_dir=data_dir, participants=participants)
    try:
        asyncio.run(run_up(options))
    except CannotStart as e:
        raise click.ClickException(str(e)) from e


@main.group()
def projections() -> None:
    """Projections that hold a programme back: list them, retry them, or skip the event they cannot apply."""


@projections.command("holds")
def projections_holds() -> None:
    """List every hold: the projection, the programme, the event it cannot apply and why (JSON lines)."""
    import msgspec

    from infra.db import connect_owner
    from projections.holds import holds

    async def run() -> None:
        owner = await connect_owner(Settings.from_env())
        try:
            for hold in await holds(owner):
                click.echo(json.dumps(msgspec.to_builtins(hold)))
        finally:
            await owner.close()

    asyncio.run(run())


@projections.command("retry")
def projections_retry() -> None:
    """Apply held programmes' events again now (the worker also tries every 30 s and at start-up)."""
    from infra.db import create_worker_pool
    from infra.event_store import EventStore
    from projections.holds import holds, release_holds
    from projections.registry import PROJECTIONS

    async def run() -> tuple[int, int]:
        pool = await create_worker_pool(Settings.from_env(), min_size=1, max_size=2)
        try:
            released = 0
            for projection, table in PROJECTIONS.values():
                released += await release_holds(EventStore(pool), projection, table=table)
            return released, len(await holds(pool))
        finally:
            await pool.close()

    released, left = asyncio.run(run())
    click.echo(f"released {released} hold(s); {left} left")
    if left:
        raise SystemExit(1)


@projections.command("skip")
@click.argument("event_id", type=click.UUID)
@click.option("--reason", required=True, help="Why the read models must leave this event out (kept with the skip).")
@click.option("--by", "skipped_by", required=True, help="Who decides (an operator's name or ticket).")
def projections_skip(event_id: uuid.UUID, reason: str, skipped_by: str) -> None:
    """Leave one stored event out of every read model; the event stays in the store, unchanged.

    For an event no projection can apply (see docs/operations.md). Record the
    right event afresh through the API if one was meant; the next retry lets
    the held programme's later events through.
    """
    from infra.db import connect_owner
    from projections.holds import skip_event

    async def run() -> bool:
        owner = await connect_owner(Settings.from_env())
        try:
            programme_id = await owner.fetchval("SELECT programme_id FROM events WHERE event_id = $1", event_id)
            if programme_id is None:
                raise click.BadParameter("no stored event has this id", param_hint="EVENT_ID")
            return await skip_event(owner, programme_id, event_id, reason=reason, skipped_by=skipped_by)
        finally:
            await owner.close()

    added = asyncio.run(run())
    click.echo("skipped; run `peoplelinks projections retry` or wait for the worker" if added else "already skipped")


@main.command()
@click.argument("names", nargs=-1, metavar="[PROJECTION]...")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, help="Events read and applied per transaction.")
def rebuild(names: tuple[str, ...], batch_size: int) -> None:
    """Rebuild read models from position 0 beside the live ones, then swap them in.

    With no PROJECTION named, every projection is rebuilt. The old tables keep
    serving until the swap, which is one transaction.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from infra.db import connect_owner, create_worker_pool
    from infra.event_store import EventStore
    from projections.rebuild import RebuildRunning
    from projections.rebuild import rebuild as rebuild_projection
    from projections.registry import PROJECTIONS

    unknown = sorted(set(names) - set(PROJECTIONS))
    if unknown:
        raise click.BadParameter(f"unknown projection(s) {unknown}; known: {sorted(PROJECTIONS)}", param_hint="NAMES")
    chosen = list(names) or list(PROJECTIONS)
    settings = Settings.from_env()

    async def run() -> None:
        owner = await connect_owner(settings)
        pool = await create_worker_pool(settings, min_size=1, max_size=2)
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f} events"),
                TextColumn("{task.fields[rate]:,.0f} events/s"),
                TimeRemainingColumn(),
            ) as bar:
                for name in chosen:
                    projection, table = PROJECTIONS[name]
                    task = bar.add_task(name, total=None, rate=0.0)  # total known once counted
                    started = asyncio.get_running_loop().time()

                    def report(done: int, total: int, task: object = task, started: float = started) -> None:
                        elapsed = max(asyncio.get_running_loop().time() - started, 1e-6)
                        bar.update(task, completed=done, total=total, rate=done / elapsed)  # type: ignore[arg-type]

                    applied, seconds = await rebuild_projection(
                        owner,
                        EventStore(pool),
                        projection,
                        live_table=table,
                        batch_size=batch_size,
                        progress=report,
                    )
                    bar.console.print(f"{name}: {applied:,} events in {seconds:.1f} s, swapped in")
        finally:
            await pool.close()
            await owner.close()

    from services import heap

    heap.settle()  # a rebuild folds millions of events: collections spaced as the worker's
    try:
        asyncio.run(run())
    except RebuildRunning as e:
        raise click.ClickException(str(e)) from e


@main.command("demo-data")
@click.option(
    "--participants",
    default=300,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Participants to record (about 65 events each).",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Random seed of the stories.")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day the stories end (enrolments from January 2025 until two weeks before).  [default: today]",
)
@click.option(
    "--data-dir",
    default=".peoplelinks",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo logins' password is kept (demo-credentials.json), as for `up`.",
)
def demo_data(participants: int, seed: int, until: dt.datetime | None, data_dir: Path) -> None:
    """Record the demo programme's stories at any size, then show what its outcome report says.

    Into the database of DATABASE_URL (migrated first): the demo programme and
    its users (admin, staff, two counselors, a funder) when missing, then
    PARTICIPANTS participants' events, recorded through the Recorder stream by
    stream as any client's are, with a progress bar. The same --seed,
    --participants and --until make the same events, so running it again
    stores nothing; another seed adds other participants. Then the read models
    are brought up to date, the last quarter that has ended is released to
    funders (once; the demo funder reads it), and the referral and online
    application figures of the outcome report are printed.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from domain.streams import RuleViolation
    from infra.db import connect_owner
    from infra.migrate import migrate as run_migrations
    from services.demo import DEMO_PROGRAMME, ensure_demo_programme, load_or_create_credentials
    from services.demo_seeding import (
        bring_up_read_models,
        demo_programme_log,
        demo_story,
        record_demo,
        release_last_quarter,
    )
    from services.recording import EventIdReused, VersionMismatch

    settings = Settings.from_env()
    ends = (until or dt.datetime.now(dt.UTC)).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=dt.UTC)

    async def run() -> None:
        credentials = load_or_create_credentials(data_dir / "demo-credentials.json")
        owner = await connect_owner(settings)
        try:
            await run_migrations(owner)
            demo = await ensure_demo_programme(owner, credentials)
        finally:
            await owner.close()
        log = demo_programme_log(demo, participants=participants, seed=seed, until=ends)
        with Progress(
            TextColumn("[bold]recording"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task("recording", total=len(log))
            try:
                stored = await record_demo(settings, demo.programme_id, log, lambda done: bar.advance(task, done))
            except (EventIdReused, VersionMismatch, RuleViolation) as e:
                raise click.ClickException(
                    f"this seed's streams were recorded before with another --participants or --until ({e}): "
                    "run it with those again, or choose another --seed"
                ) from e
        click.echo(f'{stored:,} of {len(log):,} events stored in "{DEMO_PROGRAMME}" (the rest were there already)')
        click.echo("bringing the read models up to date…", err=True)
        await bring_up_read_models(settings)
        period = await release_last_quarter(settings, demo)
        click.echo(f"released {period} to funders" if period else "the last quarter was released to funders already")
        story = await demo_story(settings, demo)
        click.echo(f"the outcome report, {story.period_from} to {story.period_to}:")
        for name, figures in (("referral", story.referral), ("online application", story.online)):
            per = "–" if figures.hires_per_application is None else f"{figures.hires_per_application:.3f}"
            kept = "–" if figures.retention_90 is None else f"{figures.retention_90:.2f}"
            click.echo(
                f"  {name:<20}{figures.hires or 0:>6,} hires from {figures.applications:>7,} applications "
                f"({per} a application), kept 90 days: {kept}"
            )
        click.echo(f"logins: the demo users of `peoplelinks up`, password in {data_dir / 'demo-credentials.json'}")

    asyncio.run(run())


IMPORT_REJECTED_EXIT = 3
"""Exit status of an import that rejected rows (the good ones are stored); 2 stays click's usage error."""


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The mapping file (TOML, or JSON): which event each kind of row makes, from which columns.",
)
@click.option("--programme", required=True, help="The programme: its id (as `programme create` prints it) or name.")
@click.option(
    "--as",
    "actor_email",
    default=None,
    help="Record as this user (e-mail address of an admin, staff member or counselor).  "
    "[default: each participant's counselor]",
)
@click.option(
    "--format",
    "source_format",
    type=click.Choice(["csv", "jsonl"]),
    default=None,
    help="The file's format.  [default: by its extension, .csv or .jsonl]",
)
@click.option("--kind", default=None, help="Every row of FILE is of this kind of the mapping (a file per kind).")
@click.option("--dry-run", is_flag=True, help="Check every row against the rules and report; store nothing.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the rejected rows here, as CSV (line, field, column, reason).",
)
@click.option(
    "--batch-size", default=200, show_default=True, type=click.IntRange(1, 1000), help="Events a request at most."
)
def import_export(
    file: Path,
    mapping_path: Path,
    programme: str,
    actor_email: str | None,
    source_format: str | None,
    kind: str | None,
    dry_run: bool,
    rejects: Path | None,
    batch_size: int,
) -> None:
    """Import another case-management system's export (CSV or JSON Lines) through the recording rules.

    Each row becomes one event (a participant enrolled, a contact or employer
    added, an outreach, a referral, a hire, …) as the mapping says, and is
    recorded as any client's event is. Ids are derived from the source's keys,
    so running the same file again, or a later export that overlaps it, stores
    nothing twice. Rows the rules refuse are listed with their line and the
    reason; the others are stored all the same. See docs/importing.md.

    Exit status: 0 when every row is stored or was already, 3 when some rows
    were rejected, 2 on a usage error (an unusable mapping, file or programme).

    \b
    Example:
      peoplelinks import export.csv --mapping docs/examples/import-mapping.toml \\
          --programme "Northside Reentry" --dry-run --rejects rejects.csv
    """
    import csv

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from services.importing.importer import ImportOptions, ImportRefused, run_import

    options = ImportOptions(
        file=file,
        mapping=mapping_path,
        programme=programme,
        actor_email=actor_email,
        source_format="csv" if source_format == "csv" else "jsonl" if source_format == "jsonl" else None,
        kind=kind,
        dry_run=dry_run,
        batch_size=batch_size,
    )
    settings = Settings.from_env()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)  # type: ignore[arg-type]

        try:
            report = asyncio.run(run_import(settings, options, progress))
        except ImportRefused as e:
            raise click.UsageError(str(e)) from e
    stored = "would be stored" if report.dry_run else "stored"
    click.echo(
        f"{'dry run: ' if report.dry_run else ''}{report.rows:,} rows read: {report.stored:,} events {stored}, "
        f"{report.present:,} already present, {report.skipped:,} skipped, {len(report.rejections):,} rejected"
    )
    for event_type, count in report.by_type.items():
        click.echo(f"  {event_type:<24}{count:>8,}")
    if report.correlation_id is not None and report.stored:
        click.echo(f"the stored events carry correlation_id {report.correlation_id}")
    if report.rejections:
        click.echo("rejected rows:")
        for rejection in report.rejections:
            click.echo(f"  line {rejection.line}: {rejection.describe()}")
    if rejects is not None:
        with rejects.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "field", "column", "reason"])
            for rejection in report.rejections:
                writer.writerow([rejection.line, rejection.field, rejection.column, rejection.reason])
    if report.rejections:
        raise SystemExit(IMPORT_REJECTED_EXIT)


@main.group()
def programme() -> None:
    """Manage programmes (the tenants)."""


@programme.command("create")
@click.option("--name", required=True, help="The programme's name.")
@click.option("--admin-email", required=True, help="E-mail address of its first admin.")
def programme_create(name: str, admin_email: str) -> None:
    """Create a programme and its first admin; prints their ids as JSON.

    The admin's password comes from PEOPLELINKS_ADMIN_PASSWORD or standard input.
    """
    from infra.accounts import create_programme
    from infra.db import connect_owner

    password = os.environ.get("PEOPLELINKS_ADMIN_PASSWORD")
    if password is None:
        password = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else click.prompt("Admin password", hide_input=True, confirmation_prompt=True)
        )
    if len(password) < 10:
        raise click.UsageError("the admin password must have at least 10 characters")

    async def run() -> tuple[str, str]:
        conn = await connect_owner(Settings.from_env())
        try:
            programme_id, admin_id = await create_programme(
                conn, name=name, admin_email=admin_email, admin_password=password
            )
            return str(programme_id), str(admin_id)
        finally:
            await conn.close()

    programme_id, admin_id = asyncio.run(run())
    click.echo(json.dumps({"programme_id": programme_id, "admin_user_id": admin_id}))


@main.group()
def erasures() -> None:
    """Erasures of participants' and contacts' identities, and the ledger kept outside the database."""


@erasures.command("reapply")
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The erasure ledger (default: PEOPLELINKS_ERASURE_LEDGER).",
)
def erasures_reapply(ledger: Path | None) -> None:
    """Destroy again the key of every erasure the ledger lists: run it after restoring any backup.

    A backup taken before an erasure still holds the person's key; this makes
    their name, e-mail address and phone number unreadable again. Idempotent.
    Prints what it did as JSON; exits with status 1 when a line of the ledger
    could not be read (the others are applied all the same).
    """
    from infra.db import connect_owner
    from infra.erasures import ErasureLedger, reapply

    settings = Settings.from_env()
    path = ledger or Path(settings.erasure_ledger)
    contents = ErasureLedger(path).read()

    async def run() -> int:
        conn = await connect_owner(settings)
        try:
            return await reapply(conn, contents.erasures)
        finally:
            await conn.close()

    destroyed = asyncio.run(run())
    click.echo(
        json.dumps(
            {
                "ledger": str(path),
                "ledger_exists": path.exists(),
                "erasures": len(contents.erasures),
                "reapplied": destroyed,
                "unreadable_lines": contents.unreadable_lines,
            }
        )
    )
    if contents.unreadable_lines:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
