"""The project's processes as tests start and kill them: ``peoplelinks api``, ``peoplelinks worker`` and a Redis.

Everything listens on 127.0.0.1 only. Each process starts in a session of its
own, so that stopping or killing it takes whatever it started (uvicorn's
workers) along, and nothing else. Its output (the log lines) goes to a file of
the log watch, searched for personal values at the end of the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.settings import Settings
from services.up import free_port
from tests import log_watch

ROOT = Path(__file__).resolve().parents[2]
_OUTPUTS: dict[int, Path] = {}  # each started process's output file, by pid


def environment(settings: Settings) -> dict[str, str]:
    """The environment a ``peoplelinks`` command reads ``settings`` from."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PEOPLELINKS_REDIS_PREFIX": settings.redis_prefix,
        "PEOPLELINKS_SECRET_KEY": settings.secret_key,
        "PEOPLELINKS_MASTER_KEY": settings.master_key,
        "PEOPLELINKS_WORKER_SWEEP_SECONDS": str(settings.worker_sweep_seconds),
        "PEOPLELINKS_REPORT_REQUESTS_PER_MINUTE": str(settings.report_requests_per_minute),
    }


def _start(settings: Settings, *arguments: str) -> subprocess.Popen[bytes]:
    path = log_watch.output(f"peoplelinks {arguments[0]}")
    with path.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *arguments],
            cwd=ROOT,
            env=environment(settings),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _OUTPUTS[process.pid] = path
    return process


def output_of(process: subprocess.Popen[bytes]) -> str:
    """What a ``peoplelinks`` process started here has written so far (standard output and error: its log lines)."""
    return _OUTPUTS[process.pid].read_text(encoding="utf-8", errors="replace")


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """``peoplelinks worker`` on ``settings``."""
    return _start(settings, "worker")


def serve_api(settings: Settings, *, port: int | None = None, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """``peoplelinks api`` on ``settings`` and ``port`` (a free one by default); the process and its base URL."""
    port = port or free_port()
    return _start(settings, "api", "--port", str(port), "--workers", str(workers)), f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process and what it started, SIGKILL if they are still there 15 s later."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process and what it started: no clean-up, whatever they were doing."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


async def wait_ready(client: httpx.AsyncClient, within: float = 60.0) -> None:
    """Until the API at ``client``'s base URL answers ``/health``."""
    deadline = time.monotonic() + within
    while True:
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{client.base_url} did not start"
        await asyncio.sleep(0.1)


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """An empty Redis without persistence on ``port``, once it accepts connections."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/services.sh installs it)")
    with log_watch.output("redis-server").open("wb") as output:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError("redis-server did not start")
