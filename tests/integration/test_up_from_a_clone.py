"""The README's first command, ``./scripts/up``, as a newcomer runs it: a fresh clone in a 0700 folder, as root.

The run happens in a network namespace of its own (``unshare -n``, loopback
up), so the machine's PostgreSQL and Redis on localhost are out of reach: what
answers comes from ``up`` alone. Installing the package needs PyPI, which the
namespace hides, so the clone's virtual environment is made first by the same
script with the network (``./scripts/up --help``: services, venv, install,
then ``peoplelinks up --help``); every later ``./scripts/up`` skips the install
while ``pyproject.toml`` is unchanged. Then: the demo logins printed work over
HTTP, Ctrl-C (SIGINT to the process group) leaves no process of the namespace
behind, and a second ``./scripts/up`` finds the same cluster and data again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from services.up import cluster_root
from tests import log_watch

pytestmark = pytest.mark.slow

T = TypeVar("T")
REPOSITORY = Path(__file__).resolve().parents[2]
CLONE_NEWNET = 0x40000000
INSTALL_SECONDS = 420  # pip from PyPI into a new virtual environment (about a minute here)
UP_SECONDS = 240  # initdb, migrations, 300 demo participants recorded through the Recorder (about 40 s here)


def _unshare_refusal() -> str | None:
    """Why a network namespace cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "unshare -n needs root"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare (util-linux) or ip (iproute2) is not installed"
    done = subprocess.run(
        ["unshare", "-n", "--", "ip", "link", "set", "lo", "up"], capture_output=True, text=True, check=False
    )
    return f"unshare -n failed: {done.stderr.strip()}" if done.returncode else None


def _environment() -> dict[str, str]:
    """A newcomer's environment: no servers named, no virtual environment active, no PeopleLinks settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("PEOPLELINKS_")
    }
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(active))
    return env


class Namespace:
    """Calls made from inside the network namespace of a running process (one thread that joined it)."""

    def __init__(self, pid: int) -> None:
        # `unshare` is exec'd before it makes the namespace: wait until the process is in a new one.
        ours, deadline = os.stat("/proc/self/ns/net").st_ino, time.monotonic() + 10
        while (inode := os.stat(f"/proc/{pid}/ns/net").st_ino) == ours:
            assert time.monotonic() < deadline, "unshare -n made no network namespace"
            time.sleep(0.01)
        self.inode = inode
        self._executor = ThreadPoolExecutor(max_workers=1, initializer=self._enter, initargs=(f"/proc/{pid}/ns/net",))

    @staticmethod
    def _enter(path: str) -> None:
        # setns moves the calling thread only: every socket this thread opens is in the namespace.
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        return self._executor.submit(function, *args).result(timeout=300)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def processes(self) -> list[str]:
        """The processes still in this namespace (pid and command line)."""
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.stat(entry / "ns" / "net").st_ino == self.inode:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    left.append(f"{entry.name}: {command}")
        return left


class Run:
    """One ``./scripts/up`` in a network namespace of its own."""

    def __init__(self, clone: Path, env: dict[str, str], name: str) -> None:
        self.out = clone.parent / f"{name}.out"
        self.err = clone.parent / f"{name}.err"
        with self.out.open("wb") as stdout, self.err.open("wb") as stderr:
            # unshare and sh exec: the process started is, in the end, `peoplelinks up` itself.
            self.process = subprocess.Popen(
                ["unshare", "-n", "--", "sh", "-c", "ip link set lo up && exec ./scripts/up"],
                cwd=clone,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # a process group of its own, as a terminal's foreground job
            )
        self.namespace = Namespace(self.process.pid)

    def output(self) -> str:
        return f"{self.out.read_text(errors='replace')}\n--- stderr ---\n{self.err.read_text(errors='replace')}"

    def banner(self) -> str:
        deadline = time.monotonic() + UP_SECONDS
        while "(kept in" not in (text := self.out.read_text(errors="replace")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"./scripts/up did not come up:\n{self.output()}")
            time.sleep(0.5)
        return text

    def ctrl_c(self) -> int:
        """SIGINT to the process group, as Ctrl-C in a terminal; the exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail(f"./scripts/up did not stop within 90 s of Ctrl-C:\n{self.output()}")

    def kill(self) -> None:
        """Whatever is left of this run, ended (only on failure)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for line in self.namespace.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
        self.namespace.close()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def _visit(url: str, logins: dict[str, str], password: str) -> dict[str, Any]:
    """What a newcomer sees over HTTP with the printed logins (run inside the namespace)."""
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if http.get("/health/ready").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("/health/ready never answered 200")
            time.sleep(0.5)
        login = http.post("/v1/auth/login", json={"email": logins["admin"], "password": password})
        seen["admin_login"] = login.status_code
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        while True:
            status = http.get("/v1/projections", headers=auth).json()
            if status["head"] > 0 and all(p["lag"] == 0 for p in status["projections"]):
                break
            if time.monotonic() > deadline + 120:
                raise AssertionError(f"the projections did not catch up: {status}")
            time.sleep(0.5)
        seen["head"] = status["head"]
        rates = http.get(
            "/v1/dashboards/response-rates", params={"from": "2025-01-01", "to": "2026-12-31"}, headers=auth
        )
        seen["sent"] = rates.json()["overall"]["sent"]["value"] if rates.status_code == 200 else rates.text
        seen["dashboards_page"] = http.get("/dashboards").status_code
        funder = http.post("/v1/auth/login", json={"email": logins["funder"], "password": password})
        seen["funder_login"] = funder.status_code
        # Funders read released quarters only: up releases the last one, so the funder has a report.
        released = http.get(
            "/v1/reports/outcomes", headers={"Authorization": f"Bearer {funder.json()['access_token']}"}
        )
        seen["funder_report"] = released.status_code
    return seen


@pytest.fixture
def clone() -> Iterator[Path]:
    refusal = _unshare_refusal()
    if refusal is not None:
        pytest.skip(refusal)
    head = subprocess.run(
        ["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode:
        pytest.skip(f"{REPOSITORY} is not a git repository to clone")
    base = Path(tempfile.mkdtemp(prefix="pl-newcomer-"))  # mode 0700, like `mktemp -d`
    assert base.stat().st_mode & 0o777 == 0o700
    target = base / "peoplelinks"
    try:
        subprocess.run(["git", "clone", "-q", str(REPOSITORY), str(target)], check=True, timeout=120)
        subprocess.run(["git", "-C", str(target), "checkout", "-q", "--detach", head.stdout.strip()], check=True)
        yield target
    finally:
        cluster = cluster_root(target / ".peoplelinks")
        # Each run's standard error holds its log lines (standard output is the banner, with the demo's logins).
        for err in sorted(base.glob("*.err")):
            log_watch.keep(err, "./scripts/up, standard error")
        log_watch.keep(cluster / "postgres.log", "PostgreSQL of ./scripts/up")
        log_watch.keep(target / ".peoplelinks" / "redis" / "redis.log", "Redis of ./scripts/up")
        if cluster.is_relative_to("/var/lib/peoplelinks"):
            shutil.rmtree(cluster, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def _run_and_visit(clone: Path, env: dict[str, str], name: str) -> tuple[str, str, dict[str, Any]]:
    """One ``./scripts/up`` from start to Ctrl-C: its banner, its standard error, what HTTP showed."""
    run = Run(clone, env, name)
    stopped = False
    try:
        banner = run.banner()
        password = re.search(r"password: (\S+)", banner)
        url = re.search(r"^\s+API\s+(http://\S+)$", banner, re.M)
        logins = dict(re.findall(r"^\s+(admin|funder)\s+(\S+@\S+)$", banner, re.M))
        assert password and url and set(logins) == {"admin", "funder"}, banner
        assert url.group(1) == "http://127.0.0.1:8000", "the README's command, as it is: the default port"
        # The machine's own servers are not to be seen from here: whatever answers is up's.
        assert run.namespace.call(_refused, 5432) and run.namespace.call(_refused, 6379)
        seen = run.namespace.call(_visit, url.group(1), logins, password.group(1))
        assert run.ctrl_c() == 0, run.output()
        stopped = True
        time.sleep(0.5)  # the kernel reaps the last children of the namespace
        assert run.namespace.processes() == [], f"left running after Ctrl-C:\n{run.output()}"
        return banner, run.err.read_text(errors="replace"), seen
    finally:
        if not stopped:
            run.kill()
        else:
            run.namespace.close()


def test_scripts_up_from_a_fresh_clone_in_a_private_folder_serves_the_demo_and_stops_on_ctrl_c(clone: Path) -> None:
    env = _environment()
    install = subprocess.run(
        ["./scripts/up", "--help"],
        check=False,
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
    )
    assert install.returncode == 0 and "--participants" in install.stdout, install.stdout + install.stderr

    banner, errors, seen = _run_and_visit(clone, env, "first")
    assert "recording the demo: 300 participants" in errors, errors
    assert seen["admin_login"] == 200 and seen["funder_login"] == 200 and seen["funder_report"] == 200, seen
    assert re.search(r"^released \d{4}-Q[1-4] to funders$", errors, re.M), errors
    assert isinstance(seen["sent"], int) and seen["sent"] > 0, seen
    assert seen["dashboards_page"] == 200
    data_dir = clone / ".peoplelinks"
    assert data_dir.stat().st_mode & 0o777 == 0o700
    cluster = cluster_root(data_dir)
    assert f"data in {cluster}" in banner
    assert not (cluster / "data" / "postmaster.pid").exists(), "PostgreSQL did not shut down cleanly"

    # The next `up` finds the cluster and its data again: nothing is recorded twice, the same logins work.
    banner_again, errors_again, seen_again = _run_and_visit(clone, env, "second")
    assert "recording the demo" not in errors_again, errors_again
    assert "applied" not in errors_again, "no migration is new the second time"
    assert f"data in {cluster}" in banner_again
    assert re.search(r"password: (\S+)", banner_again).group(1) == re.search(r"password: (\S+)", banner).group(1)  # type: ignore[union-attr]
    assert seen_again["admin_login"] == 200 and seen_again["head"] == seen["head"], (seen, seen_again)
    assert seen_again["funder_report"] == 200 and "released" not in errors_again, "released once"
