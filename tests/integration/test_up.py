"""``peoplelinks up`` as a person runs it: embedded PostgreSQL and Redis, demo logins that work, a clean stop."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.up import cluster_root, free_port, postgres_bindir
from tests import log_watch

pytestmark = pytest.mark.slow


class Up:
    """A running ``peoplelinks up`` and where it keeps things."""

    def __init__(self, process: subprocess.Popen[bytes], data_dir: Path, out: Path, err: Path, port: int) -> None:
        self.process = process
        self.data_dir = data_dir
        self.out = out
        self.err = err
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.out.read_text(errors="replace") + "\n--- stderr ---\n" + self.err.read_text(errors="replace")

    def banner(self, timeout: float) -> str:
        """Standard output once the logins are printed."""
        deadline = time.monotonic() + timeout
        while "(kept in" not in (text := self.out.read_text(errors="replace")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"peoplelinks up did not come up:\n{self.output()}")
            time.sleep(0.1)
        return text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: it holds no port and no file.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture
def up() -> Iterator[Up]:
    if postgres_bindir() is None or shutil.which("redis-server") is None:
        pytest.skip("initdb/pg_ctl or redis-server are not installed (scripts/services.sh --install-only)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no postgres OS user for the cluster to run as")
    base = Path(tempfile.mkdtemp(prefix="pl-up-"))  # mode 0700, as a newcomer's clone in a temporary folder
    data_dir = base / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PEOPLELINKS_SECRET_KEY")}
    out, err = base / "stdout.txt", base / "stderr.txt"
    command = [sys.executable, "-m", "services.cli", "up", "--port", str(port), "--data-dir", str(data_dir)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--participants", "4"], env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    running = Up(process, data_dir, out, err, port)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Whatever happened above, leave no server behind.
        cluster = cluster_root(data_dir)
        for pid_file, signum in (
            (cluster / "data" / "postmaster.pid", signal.SIGQUIT),
            (data_dir / "redis" / "redis.pid", signal.SIGKILL),
        ):
            pid = _pid_in(pid_file)
            if pid is not None and _alive(pid):
                os.kill(pid, signum)
        # Standard output is the banner, which prints the demo's logins on purpose; the log lines go to standard error.
        log_watch.keep(err, "peoplelinks up, standard error")
        log_watch.keep(cluster / "postgres.log", "PostgreSQL of peoplelinks up")
        log_watch.keep(data_dir / "redis" / "redis.log", "Redis of peoplelinks up")
        shutil.rmtree(cluster, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def _wait_until(what: str, check: Any, up: Up, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            result = check()
            if result:
                return result
        if up.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen:\n{up.output()}")
        time.sleep(0.2)


def test_up_embeds_the_servers_serves_the_demo_and_stops_cleanly(up: Up) -> None:
    banner = up.banner(timeout=45)
    password = re.search(r"password: (\S+)", banner)
    admin = re.search(r"^\s+admin\s+(\S+@\S+)$", banner, re.M)
    assert password and admin, banner
    assert f"{up.url}/dashboards" in banner and f"{up.url}/schema" in banner
    credentials = up.data_dir / "demo-credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    cluster = cluster_root(up.data_dir)
    if os.geteuid() == 0:
        assert not cluster.is_relative_to(up.data_dir), "the postgres OS user cannot pass a 0700 folder"
        assert cluster.stat().st_uid == pwd.getpwnam("postgres").pw_uid
    postgres_pid = _pid_in(cluster / "data" / "postmaster.pid")
    redis_pid = _pid_in(up.data_dir / "redis" / "redis.pid")
    assert postgres_pid and redis_pid and _alive(postgres_pid) and _alive(redis_pid)

    with httpx.Client(base_url=up.url, timeout=10) as http:
        _wait_until("/health answering", lambda: http.get("/health").status_code == 200, up)
        login = http.post("/v1/auth/login", json={"email": admin.group(1), "password": password.group(1)})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def caught_up() -> bool:
            status = http.get("/v1/projections", headers=auth).json()
            return status["head"] > 0 and all(p["lag"] == 0 for p in status["projections"])

        _wait_until("the projections catching up", caught_up, up)
        today = dt.datetime.now(dt.UTC).date()
        rates = http.get(
            "/v1/dashboards/response-rates", params={"from": "2025-01-01", "to": today.isoformat()}, headers=auth
        )
        assert rates.status_code == 200, rates.text
        assert rates.json()["overall"]["sent"]["value"] > 0
        assert http.get("/dashboards").status_code == 200
        funder = re.search(r"^\s+funder\s+(\S+@\S+)$", banner, re.M)
        assert funder, banner
        funder_login = http.post("/v1/auth/login", json={"email": funder.group(1), "password": password.group(1)})
        funder_auth = {"Authorization": f"Bearer {funder_login.json()['access_token']}"}
        released = http.get("/v1/reports/outcomes", headers=funder_auth)
        assert released.status_code == 200, "up releases the last quarter, so the demo funder has a report"

    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(timeout=30) == 0, up.output()
    assert not _alive(postgres_pid), "the embedded PostgreSQL is still running"
    assert not _alive(redis_pid), "the embedded Redis is still running"
    assert not (cluster / "data" / "postmaster.pid").exists()
