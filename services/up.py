"""``peoplelinks up``: everything for a first look, in one process.

PostgreSQL and Redis are embedded when ``DATABASE_URL`` / ``REDIS_URL`` are
unset: a private cluster (``cluster_root``: ``<data-dir>/postgres``, or a folder
of the ``postgres`` OS user's under /var/lib/peoplelinks/up when run as root;
reused by the next ``up``) and a Redis that persists nothing, each on a free port of 127.0.0.1.
Then migrations, the demo programme with its users and a few hundred
participants' events (recorded once, through the Recorder like any client's),
and the API and the worker side by side until Ctrl-C or SIGTERM. The embedded
servers are stopped on the way out, whatever stopped the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import glob
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Final, TypeVar

import asyncpg
import click
import msgspec
import uvicorn

from infra.db import connect_owner
from infra.migrate import migrate
from infra.settings import Settings
from services import heap
from services.api.app import create_app
from services.demo import (
    DEMO_PROGRAMME,
    DemoCredentials,
    DemoRecording,
    ensure_demo_programme,
    is_seeded,
    load_or_create_credentials,
    write_private,
)
from services.demo_seeding import bring_up_read_models, demo_programme_log, record_demo, release_last_quarter
from services.observability import configure_logging
from services.worker.app import run_worker

T = TypeVar("T")
DATABASE: Final = "peoplelinks"
INSTALL_HINT: Final = "run scripts/services.sh --install-only (it installs Debian's postgresql and redis-server)"
_STOP_TIMEOUT: Final = 60


class CannotStart(Exception):
    """``up`` cannot start; the message says what to do about it."""


class UpOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The command line of ``peoplelinks up``."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".peoplelinks")
    participants: int = 300


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bindir(env: Mapping[str, str] | None = None) -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: $PEOPLELINKS_PG_BINDIR, ``pg_config --bindir``, Debian's layout, or PATH."""
    env = os.environ if env is None else env
    candidates: list[str] = []
    if env.get("PEOPLELINKS_PG_BINDIR"):
        candidates.append(env["PEOPLELINKS_PG_BINDIR"])
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)  # noqa: S607
        if found.returncode == 0:
            candidates.append(found.stdout.strip())
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _major(Path(p).parent.name), reverse=True
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _major(version: str) -> int:
    return int(version) if version.isdigit() else 0


def _private_secret(path: Path, length: int) -> str:
    """A random secret kept in ``path`` (mode 0600), made the first time."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(length) + "\n")
    return path.read_text(encoding="utf-8").strip()


CLUSTERS_OF_ROOT: Final = Path("/var/lib/peoplelinks/up")
"""Where ``up`` run as root keeps its clusters: a place the ``postgres`` OS user reaches whatever the clone's is."""
LOCATION_FILE: Final = "postgres-location"


def cluster_root(data_dir: Path, *, as_root: bool | None = None) -> Path:
    """Where the embedded cluster of ``data_dir`` lives (its ``data/`` and log).

    Not root: ``<data-dir>/postgres``. Root: PostgreSQL refuses to run as root, so
    the cluster runs as the ``postgres`` OS user, who cannot pass through a
    clone made in a 0700 folder (``mktemp -d``, a home directory). Its cluster
    then lives in a folder of its own under ``/var/lib/peoplelinks/up``, named
    by the data directory's path and noted in ``<data-dir>/postgres-location``:
    the note is read first, so a clone that was moved finds its cluster again.
    """
    if not (os.geteuid() == 0 if as_root is None else as_root):
        return data_dir / "postgres"
    noted = data_dir / LOCATION_FILE
    if noted.exists():
        return Path(noted.read_text(encoding="utf-8").strip())
    return CLUSTERS_OF_ROOT / hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


class EmbeddedPostgres:
    """A private cluster (``cluster_root``): made by ``initdb`` once, started on a free port each time.

    Run as the ``postgres`` OS user when this process is root (PostgreSQL refuses
    to run as root). Only 127.0.0.1 is listened on, no Unix socket is made, and
    TCP logins need the superuser password kept in ``<data-dir>/postgres-password``.
    """

    def __init__(self, data_dir: Path, bindir: Path) -> None:
        self.run_as = _postgres_user() if os.geteuid() == 0 else None
        self.data_dir = data_dir
        self.root = cluster_root(data_dir, as_root=self.run_as is not None)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.bindir = bindir
        self.password_file = data_dir / "postgres-password"
        self.port = 0

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bindir / program), *args]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        # A session of its own: Ctrl-C in the terminal reaches `up`, which stops the server in order.
        done = subprocess.run(  # noqa: S603 (our own arguments, no shell)
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            start_new_session=True,
        )
        if check and done.returncode != 0:
            raise CannotStart(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}\n{self.log_tail()}"
            )
        return done

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def url(self, database: str = DATABASE) -> str:
        """The connection URL of a database of this cluster, as its superuser."""
        password = self.password_file.read_text(encoding="utf-8").strip()
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Create the cluster if there is none, then start it on a free port."""
        if self.run_as is None:
            self.root.mkdir(parents=True, exist_ok=True)
        else:
            self._prepare_root_for(self.run_as)
        made = (self.data / "PG_VERSION").exists()
        if made and self._run(self._command("pg_ctl", "status", "-D", str(self.data)), check=False).returncode == 0:
            # Left running by an `up` that was killed: stop it, to start it again on a port of ours.
            self._run(self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w"), check=False)
        if made and not self.password_file.exists():
            # Its password went with a data directory that was removed: nobody can log in to it any more.
            click.echo(f"the cluster in {self.root} belonged to a removed data directory: making it anew", err=True)
            made = False
        if not made:
            self._create()
        self.port = free_port()
        self._run(
            self._command(
                "pg_ctl", "start", "-w", "-t", str(_STOP_TIMEOUT), "-D", str(self.data), "-l", str(self.log),
                "-o", f"-p {self.port}",
            )
        )  # fmt: skip

    def _prepare_root_for(self, user: str) -> None:
        """The cluster's folder, owned by ``user`` (mode 0700), its parents passable; noted in the data directory."""
        account = pwd.getpwnam(user)
        self.root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.root.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.root, account.pw_uid, account.pw_gid)
        noted = self.data_dir / LOCATION_FILE
        if not noted.exists():
            write_private(noted, f"{self.root}\n")
        if self._run(["runuser", "-u", user, "--", "test", "-w", str(self.root)], check=False).returncode:
            raise CannotStart(
                f"the {user} OS user cannot write to {self.root} (a parent folder it cannot pass?); "
                f"remove {self.data_dir / LOCATION_FILE} to let up choose a folder under {CLUSTERS_OF_ROOT}"
            )

    def _create(self) -> None:
        if self.data.exists():
            shutil.rmtree(self.data)  # a half-made cluster from an interrupted first start
        password = _private_secret(self.password_file, 24)
        # initdb reads the password from a file its user can read; it is removed right after.
        handover = self.root / "initdb-password"
        handover.unlink(missing_ok=True)
        write_private(handover, password + "\n")
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            os.chown(handover, account.pw_uid, account.pw_gid)
        try:
            self._run(
                self._command(
                    "initdb", "-D", str(self.data), "-U", "postgres", f"--pwfile={handover}",
                    "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-locale",
                )
            )  # fmt: skip
        finally:
            handover.unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# peoplelinks up: loopback only, no Unix socket (the port is given on each start)\n"
                "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            )

    def stop(self) -> None:
        """Stop the server (fast: sessions end, nothing committed is lost); immediately if that fails."""
        if not (self.data / "postmaster.pid").exists():
            return
        stop = self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", str(_STOP_TIMEOUT))
        if self._run(stop, check=False).returncode != 0:
            self._run(self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w"), check=False)


def _postgres_user() -> str:
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        raise CannotStart(
            f"running as root, PostgreSQL needs the postgres OS user to run as, and there is none; {INSTALL_HINT}"
        ) from None


class EmbeddedRedis:
    """A private ``redis-server`` on a free port of 127.0.0.1, password-protected, persisting nothing."""

    def __init__(self, data_dir: Path, program: str) -> None:
        self.root = data_dir / "redis"
        self.program = program
        self.conf = self.root / "redis.conf"
        self.pidfile = self.root / "redis.pid"
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def url(self) -> str:
        """The connection URL."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = free_port()
        self.conf.unlink(missing_ok=True)
        # The password goes in a file of mode 0600, not on a command line others could read.
        write_private(
            self.conf,
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode yes\nrequirepass {self.password}\n"
            f'save ""\nappendonly no\ndir {self.root.resolve()}\npidfile {self.pidfile.resolve()}\n'
            f"logfile {(self.root / 'redis.log').resolve()}\ndaemonize no\n",
        )
        self.process = subprocess.Popen(  # noqa: S603
            [self.program, str(self.conf.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise CannotStart(f"redis-server did not start; see {self.root / 'redis.log'}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                answer = b""
                while b"\r\n" not in answer.partition(b"\r\n")[2] and (chunk := s.recv(64)):
                    answer += chunk  # two replies: +OK to AUTH, +PONG to PING
                return answer.endswith(b"+PONG\r\n")
        except OSError:
            return False

    def _stop_leftover(self) -> None:
        """Stop a server left running by an ``up`` that was killed (known by its pid file and command line)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"redis-server" in command:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ten seconds)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``up`` stops the API, the worker and the servers in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _unless_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None when ``stop`` is set first (``work`` is then cancelled)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise CannotStart(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port") from e


def _prepare_data_dir(data_dir: Path) -> None:
    if not data_dir.exists():
        data_dir.mkdir(parents=True)
        # Secrets live here; the cluster of a root `up` lives elsewhere (``cluster_root``), so nobody else needs in.
        data_dir.chmod(0o700)


async def _ensure_database(owner_url: str, database: str) -> None:
    conn = await asyncpg.connect(owner_url)
    try:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def _prepare_demo(settings: Settings, credentials: DemoCredentials, participants: int, data_dir: Path) -> None:
    """Migrations, the demo programme and its users, its events (recorded once), and a quarter released to funders.

    What is being recorded is written down first (``demo-recording.json``), so
    that an ``up`` stopped halfway records the same demo again at its next
    start: streams already stored are answered as replays, the rest recorded.
    """
    conn = await connect_owner(settings)
    try:
        applied = await migrate(conn)
        if applied:
            click.echo(f"applied {len(applied)} migration(s)", err=True)
        demo = await ensure_demo_programme(conn, credentials)
        seeded = await is_seeded(conn, demo.programme_id)
    finally:
        await conn.close()
    plan_file = data_dir / "demo-recording.json"
    plan = DemoRecording.load(plan_file)
    if plan is not None and plan.programme_id != demo.programme_id:
        plan = None  # of a database since replaced
    if not seeded or (plan is not None and not plan.complete):
        if plan is None:
            until = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
            plan = DemoRecording(programme_id=demo.programme_id, participants=participants, until=until)
            plan.save(plan_file)
        log = demo_programme_log(demo, participants=plan.participants, seed=demo.programme_id.int, until=plan.until)
        click.echo(f"recording the demo: {plan.participants} participants, {len(log):,} events…", err=True)
        started = time.monotonic()
        stored = await record_demo(settings, demo.programme_id, log)
        msgspec.structs.replace(plan, complete=True).save(plan_file)
        click.echo(f"recorded {stored:,} events in {time.monotonic() - started:.1f} s", err=True)
    # Funders read released quarters only: release the last one, once, so that the demo funder sees a report.
    await bring_up_read_models(settings)
    period = await release_last_quarter(settings, demo)
    if period is not None:
        click.echo(f"released {period} to funders", err=True)


def _public_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, f"[{host}]" if ":" in host else host)  # noqa: S104
    return f"http://{shown}:{port}"


async def run_up(options: UpOptions) -> None:
    """Run everything until Ctrl-C or SIGTERM; see the module docstring."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await _run(options, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _run(options: UpOptions, stop: asyncio.Event) -> None:
    _check_port_free(options.host, options.port)
    data_dir = options.data_dir
    env = dict(os.environ)
    embed_postgres = not env.get("DATABASE_URL")
    embed_redis = not env.get("REDIS_URL")
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    bindir = postgres_bindir(env) if embed_postgres else None
    if embed_postgres and bindir is None:
        raise CannotStart(
            "DATABASE_URL is unset and PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
            f"{INSTALL_HINT}, or set DATABASE_URL (or PEOPLELINKS_PG_BINDIR)"
        )
    program = shutil.which("redis-server") if embed_redis else None
    if embed_redis and program is None:
        raise CannotStart(f"REDIS_URL is unset and redis-server is not installed: {INSTALL_HINT}, or set REDIS_URL")
    _prepare_data_dir(data_dir)
    if not env.get("PEOPLELINKS_SECRET_KEY"):
        # Kept, so that tokens survive a restart of `up`.
        env["PEOPLELINKS_SECRET_KEY"] = _private_secret(data_dir / "secret-key", 48)
    if not env.get("PEOPLELINKS_MASTER_KEY"):
        # Beside the database it protects: right for a first look only (docs/security.md, "Privacy").
        env["PEOPLELINKS_MASTER_KEY"] = _private_secret(data_dir / "master-key", 32)
    if not env.get("PEOPLELINKS_ERASURE_LEDGER"):
        env["PEOPLELINKS_ERASURE_LEDGER"] = str(data_dir / "erasure-ledger.jsonl")
    credentials = load_or_create_credentials(data_dir / "demo-credentials.json")
    with contextlib.ExitStack() as servers:
        if bindir is not None:
            postgres = EmbeddedPostgres(data_dir, bindir)
            servers.callback(_announce_stop, "PostgreSQL", postgres.stop)
            click.echo(f"starting the embedded PostgreSQL ({postgres.root})…", err=True)
            await asyncio.to_thread(postgres.start)
            await _ensure_database(postgres.url("postgres"), DATABASE)
            env["DATABASE_URL"] = postgres.url()
        if program is not None and not stop.is_set():
            redis = EmbeddedRedis(data_dir, program)
            servers.callback(_announce_stop, "Redis", redis.stop)
            await asyncio.to_thread(redis.start)
            env["REDIS_URL"] = redis.url()
        if stop.is_set():
            return
        # A terminal, not a log collector: plain text, warnings and errors only (unless set otherwise).
        env.setdefault("PEOPLELINKS_LOG_FORMAT", "text")
        env.setdefault("PEOPLELINKS_LOG_LEVEL", "WARNING")
        settings = Settings.from_env(env)
        configure_logging(settings.log_format, settings.log_level)
        await _unless_stopped(stop, _prepare_demo(settings, credentials, options.participants, data_dir))
        if stop.is_set():
            return
        await _serve(options, settings, stop, credentials, postgres, redis)


def _announce_stop(what: str, stop: Callable[[], None]) -> None:
    click.echo(f"stopping the embedded {what}…", err=True)
    stop()


async def _serve(
    options: UpOptions,
    settings: Settings,
    stop: asyncio.Event,
    credentials: DemoCredentials,
    postgres: EmbeddedPostgres | None,
    redis: EmbeddedRedis | None,
) -> None:
    """The API and the worker side by side until ``stop`` is set or one of them fails."""
    app = create_app(settings)
    heap.settle()  # this process serves the API and runs the worker from here until it stops
    server = _Server(
        uvicorn.Config(
            app,
            host=options.host,
            port=options.port,
            lifespan="on",
            log_config=None,  # configure_logging above takes uvicorn's records
            log_level=settings.log_level.lower(),
            access_log=False,  # access logs would carry ids from paths
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: a first look has no proxy in front.
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
            timeout_graceful_shutdown=5,
        )
    )
    api = asyncio.create_task(server.serve(), name="api")
    worker = asyncio.create_task(run_worker(settings, stop=stop), name="worker")
    stopping = asyncio.create_task(stop.wait())
    try:
        # uvicorn only has a flag for "started": look at it between waits for either task or a stop.
        while not server.started and not api.done() and not worker.done() and not stop.is_set():
            await asyncio.wait({api, worker, stopping}, timeout=0.05)
        if server.started:
            _print_banner(options, credentials, postgres, redis)
        await asyncio.wait({api, worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        click.echo("stopping the API and the worker…", err=True)
        server.should_exit = True
        stop.set()
        stopping.cancel()
        results = await asyncio.gather(api, worker, return_exceptions=True)
    for task, result in zip((api, worker), results, strict=True):
        if isinstance(result, BaseException):
            raise CannotStart(f"the {task.get_name()} stopped: {type(result).__name__}: {result}") from result
    if not server.started:
        raise CannotStart("the API did not start; see the messages above")


def _print_banner(
    options: UpOptions, credentials: DemoCredentials, postgres: EmbeddedPostgres | None, redis: EmbeddedRedis | None
) -> None:
    url = _public_url(options.host, options.port)
    # The pages' session cookie is Secure: browsers keep it over plain HTTP for localhost only.
    pages = url.replace("//127.0.0.1:", "//localhost:").replace("//[::1]:", "//localhost:")
    rows = [("API", url), ("pages", f"{pages}/app/"), ("dashboards", f"{url}/dashboards"), ("OpenAPI", f"{url}/schema")]
    if postgres is not None:
        rows.append(("PostgreSQL", f"embedded on 127.0.0.1:{postgres.port}, data in {postgres.root}"))
    if redis is not None:
        rows.append(("Redis", f"embedded on 127.0.0.1:{redis.port}, nothing persisted"))
    lines = ["", "PeopleLinks is up; Ctrl-C stops it.", ""]
    lines += [f"  {name:<12}{value}" for name, value in rows]
    lines += ["", f'Demo programme "{DEMO_PROGRAMME}"; every demo login has the password: {credentials.password}']
    lines += [f"  {login.role:<12}{login.email}" for login in credentials.logins]
    lines += [f"  (kept in {options.data_dir / 'demo-credentials.json'})", ""]
    click.echo("\n".join(lines))
