"""A private PostgreSQL cluster and Redis that a test may restart or crash, and the API served over real HTTP.

The machine's shared PostgreSQL is never touched: the cluster here is made
with ``initdb`` in a temporary directory, listens on a free port of
127.0.0.1 and is removed afterwards, even when the test fails (its server log
is kept for the log watch first). The API runs
under uvicorn in a thread of this process for the whole test, so that a
test can show it recovering without being restarted. ``running_cluster`` and
``running_redis`` serve fixtures of a wider scope too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import uvicorn

from infra.accounts import create_programme, create_user
from infra.migrate import migrate
from infra.settings import Settings
from services.api.app import create_app
from services.up import free_port, postgres_bindir
from tests import log_watch
from tests.integration.processes import start_redis
from tests.support import MASTER_KEY, Tenant

PASSWORD = "correct horse battery"
DATABASE = "peoplelinks"


class PrivateCluster:
    """One throw-away PostgreSQL cluster, run as the ``postgres`` OS user when this process is root."""

    def __init__(self, bindir: Path, root: Path, port: int, run_as: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.port = port
        self.run_as = run_as
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bindir / program), *args]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _pg_ctl(self, action: str, *args: str) -> list[str]:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        return self._command(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-o", options, "-t", "60", *args
        )

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{self.log_tail()}"
            )
        return done

    async def _run_async(self, command: list[str]) -> None:
        """Run a command without blocking the event loop, so that clients go on meanwhile."""
        process = await asyncio.create_subprocess_exec(
            *command, cwd=self.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{command} failed ({process.returncode}):\n{output.decode()}\n{self.log_tail()}")

    def create(self) -> None:
        self.sockets.mkdir()
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            for path in (self.root, self.sockets):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            self._command(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            )
        )
        self._run(self._pg_ctl("start", "-w"))

    async def restart_fast(self) -> None:
        """A clean restart: sessions are terminated, in-flight transactions roll back."""
        await self._run_async(self._pg_ctl("restart", "-m", "fast", "-w"))

    async def crash(self) -> None:
        """Stop as a crash would (no checkpoint, crash recovery on the next start)."""
        await self._run_async(self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w"))

    async def start(self) -> None:
        await self._run_async(self._pg_ctl("start", "-w"))

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self._command("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w"), check=False)
        log_watch.keep(self.log, "PostgreSQL of a private cluster")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster made and started for the caller alone, removed afterwards (skips without the binaries)."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed; set PEOPLELINKS_PG_BINDIR")
    run_as = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root, and there is no postgres OS user for initdb to run as")
    cluster = PrivateCluster(bindir, Path(tempfile.mkdtemp(prefix="pl-pg-")), free_port(), run_as)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of this test alone: restarting it disturbs no other test."""
    with running_cluster() as cluster:
        yield cluster


@contextlib.contextmanager
def running_redis() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis of the caller's own on a free port, and the list of its processes (append when starting it again)."""
    port = free_port()
    processes = [start_redis(port)]
    try:
        yield port, processes
    finally:
        for process in processes:
            process.kill()
            process.wait()


@pytest.fixture
def private_redis() -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A Redis of this test's own, which the test may stop and start again."""
    with running_redis() as redis:
        yield redis


class Served:
    """The API served over HTTP against the private cluster, and what the test needs to drive it."""

    def __init__(
        self, base_url: str, cluster: PrivateCluster, database_url: str, tenant: Tenant, settings: Settings
    ) -> None:
        self.base_url = base_url
        self.cluster = cluster
        self.database_url = database_url
        self.tenant = tenant
        self.settings = settings


async def prepare_database(cluster: PrivateCluster) -> tuple[str, Tenant]:
    """The ``peoplelinks`` database on ``cluster``, migrated, with a programme, its admin and a counselor."""
    admin = await asyncpg.connect(cluster.url())
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(cluster.url(DATABASE))
    try:
        await migrate(conn)
        email = f"admin-{uuid.uuid4().hex[:8]}@restart.example"
        programme_id, admin_id = await create_programme(
            conn, name="Restart", admin_email=email, admin_password=PASSWORD
        )
        counselor_email = f"counselor-{uuid.uuid4().hex[:8]}@restart.example"
        counselor_id = await create_user(
            conn, programme_id=programme_id, email=counselor_email, role="counselor", password=PASSWORD
        )
    finally:
        await conn.close()
    tenant = Tenant(
        programme_id=programme_id,
        admin_id=admin_id,
        admin_email=email,
        counselor_id=counselor_id,
        counselor_email=counselor_email,
        password=PASSWORD,
    )
    return cluster.url(DATABASE), tenant


@pytest.fixture
async def served_api(private_cluster: PrivateCluster) -> AsyncIterator[Served]:
    """``create_app`` under uvicorn in a thread of its own, on a free port, for the whole test."""
    database_url, tenant = await prepare_database(private_cluster)
    settings = Settings(
        database_url=database_url,
        secret_key="test-secret-key-of-at-least-32-bytes!",
        master_key=MASTER_KEY,
        pool_min_size=2,
        pool_max_size=10,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    thread = threading.Thread(target=server.run, name="peoplelinks-api", daemon=True)
    thread.start()
    try:
        started_by = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > started_by:
                raise RuntimeError(f"the API did not start:\n{private_cluster.log_tail()}")
            await asyncio.sleep(0.05)
        yield Served(f"http://127.0.0.1:{port}", private_cluster, database_url, tenant, settings)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 30)
