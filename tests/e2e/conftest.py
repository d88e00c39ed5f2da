"""Browser tests: the API under uvicorn, a seeded programme, and Debian's headless Chromium driven by Selenium.

One programme, one server and one browser serve every test of this folder (a
browser start costs seconds on two cores); tests that record only add events,
on participants no other test looks at. Chromium and its driver come from
Debian's packages (``scripts/services.sh`` installs them); nothing is
downloaded at run time: Selenium is handed the driver's path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from infra.accounts import create_programme, create_user
from infra.db import connect_owner, create_app_pool, create_worker_pool
from infra.event_store import EventStore
from infra.export_jobs import render_pending
from infra.settings import Settings
from services import exports
from services.api.app import create_app
from services.demo import demo_log, record_log
from services.recording import Recorder
from tests.conftest import RUN_ID, _server_url
from tests.support import MASTER_KEY, project_everything, subject_keys

CHROMIUM = os.environ.get("PEOPLELINKS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PEOPLELINKS_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = (1280, 900)
PHONE = (360, 780)
RELEASED = "2026-Q2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World(msgspec.Struct, kw_only=True):
    """The seeded programme: its users (by role), its log, and the released quarter."""

    programme_id: uuid.UUID
    emails: dict[str, str]
    user_ids: dict[str, uuid.UUID]
    log: list[dict[str, Any]]
    base_url: str
    settings: Settings
    pipelines: dict[uuid.UUID, dict[str, Any]] = {}
    clients: dict[str, Any] = {}

    def names(self) -> set[str]:
        """Every participant's and contact's name in the log (no funder may see any)."""
        found: set[str] = set()
        for line in self.log:
            if line["type"] == "participant_enrolled":
                found.add(line["data"]["profile"]["display_name"])
            elif line["type"] == "contact_added":
                found.add(line["data"]["name"])
        return found

    def api(self, role: str) -> httpx.Client:
        """The JSON API as this role's user (bearer token), to compare the pages with; one login per role."""
        if role in self.clients:
            return self.clients[role]  # type: ignore[no-any-return]
        client = httpx.Client(base_url=self.base_url, timeout=60)
        answer = client.post("/v1/auth/login", json={"email": self.emails[role], "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        self.clients[role] = client
        return client

    def pipeline(self, participant_id: uuid.UUID) -> dict[str, Any]:
        """A participant's pipeline as the API answers it to an admin (kept: the tests only add to it)."""
        if participant_id not in self.pipelines:
            answer = self.api("admin").get(f"/v1/participants/{participant_id}/pipeline")
            assert answer.status_code == 200, answer.text
            self.pipelines[participant_id] = answer.json()["pipeline"]
        return self.pipelines[participant_id]

    def participants_of(self, role: str, *, active: bool = True) -> list[uuid.UUID]:
        """The participants whose counselor today is this role's user (not exited, when ``active``)."""
        return [
            p
            for p in self.participants()
            if self.pipeline(p)["counselor_id"] == str(self.user_ids[role])
            and not (active and self.pipeline(p)["exited_on"])
        ]

    def contacts(self) -> list[uuid.UUID]:
        """The contacts of the log."""
        return [uuid.UUID(line["stream_id"].split("-", 1)[1]) for line in self.log if line["type"] == "contact_added"]

    def events_with_id(self, participant_id: uuid.UUID, event_id: str) -> list[dict[str, Any]]:
        """The participant's stored events with this event id (as an admin reads the stream)."""
        answer = self.api("admin").get(f"/v1/participants/{participant_id}/events")
        assert answer.status_code == 200, answer.text
        return [e for e in answer.json()["events"] if e["event_id"] == event_id]

    def participants(self) -> list[uuid.UUID]:
        """The participants of the log, in enrolment order."""
        return [
            uuid.UUID(line["stream_id"].split("-", 1)[1]) for line in self.log if line["type"] == "participant_enrolled"
        ]


@pytest.fixture(scope="session")
async def e2e_database(template_database: str) -> AsyncIterator[str]:
    """One database for the browser tests, cloned from the migrated template."""
    name = f"pltest_{RUN_ID}_e2e"
    admin = await asyncpg.connect(_server_url())
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        parts = urlsplit(_server_url())
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def e2e_settings(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the browser tests' server."""
    return Settings.from_env(
        {
            "DATABASE_URL": e2e_database,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
            "PEOPLELINKS_REDIS_PREFIX": f"pltest:{RUN_ID}:e2e",
            "PEOPLELINKS_SECRET_KEY": "test-secret-key-of-at-least-32-bytes!",
            "PEOPLELINKS_POOL_MIN": "1",
            "PEOPLELINKS_POOL_MAX": "12",
            "PEOPLELINKS_MASTER_KEY": MASTER_KEY,
            "PEOPLELINKS_ERASURE_LEDGER": str(tmp_path_factory.mktemp("e2e") / "erasure-ledger.jsonl"),
            "PEOPLELINKS_EXPORT_WAIT_SECONDS": "20",
            "PEOPLELINKS_ACCESS_TOKEN_TTL": "3600",  # the tests keep one API login per role for the whole run
        }
    )


@pytest.fixture(scope="session")
async def e2e_worker_pool(e2e_settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The worker's pool on the browser tests' database (``project_everything`` runs the worker's projections)."""
    pool = await create_worker_pool(e2e_settings)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def served(e2e_settings: Settings) -> AsyncIterator[str]:
    """The API (JSON and pages) under uvicorn in a thread, on localhost (Chromium keeps Secure cookies there)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(e2e_settings),
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, name="peoplelinks-e2e-api", daemon=True)
    thread.start()
    try:
        started_by = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < started_by, "the API did not start"
            await asyncio.sleep(0.05)
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 30)


def _export_worker(settings: Settings, stop: threading.Event) -> None:
    """The worker's export rendering, in a thread of its own (the tests block their loop on the browser)."""

    async def render() -> None:
        pool = await create_worker_pool(settings)
        try:
            while not stop.is_set():
                await render_pending(pool, exports.render)
                await asyncio.sleep(0.1)
        finally:
            await pool.close()

    asyncio.run(render())


@pytest.fixture(scope="session")
async def world(e2e_settings: Settings, e2e_worker_pool: asyncpg.Pool, served: str) -> AsyncIterator[World]:
    """A programme with a user of every role, a demo log of 60 participants over 18 months, projected, and
    one quarter released to funders (with suppression below 5, set by the admin as a programme setting)."""
    owner = await connect_owner(e2e_settings)
    try:
        admin_email = f"admin-{RUN_ID}@e2e.example"
        programme_id, admin_id = await create_programme(
            owner, name="Eastside Reentry", admin_email=admin_email, admin_password=PASSWORD
        )
        emails = {"admin": admin_email}
        user_ids = {"admin": admin_id}
        for role in ("staff", "counselor", "counselor2", "funder"):
            email = f"{role}-{RUN_ID}@e2e.example"
            user_ids[role] = await create_user(
                owner, programme_id=programme_id, email=email, role=role.rstrip("2"), password=PASSWORD
            )
            emails[role] = email
    finally:
        await owner.close()
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    log = demo_log(
        random.Random(10),
        [str(user_ids["counselor"]), str(user_ids["counselor2"])],
        participants=60,
        start=dt.datetime(2025, 7, 1, 9, tzinfo=dt.UTC),
        until=today - dt.timedelta(days=1),
    )
    pool = await create_app_pool(e2e_settings)
    try:
        await record_log(Recorder(EventStore(pool), keys=subject_keys()), programme_id, log)
    finally:
        await pool.close()
    await project_everything(e2e_worker_pool)
    stop = threading.Event()
    renderer = threading.Thread(target=_export_worker, args=(e2e_settings, stop), name="e2e-exports", daemon=True)
    renderer.start()
    async with httpx.AsyncClient(base_url=served, timeout=60) as http:
        token = (await http.post("/v1/auth/login", json={"email": admin_email, "password": PASSWORD})).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        await owner_sets_suppression(e2e_settings, programme_id, 5)
        released = await http.post("/v1/reports/releases", json={"period": RELEASED})
        assert released.status_code == 201, released.text
    world = World(
        programme_id=programme_id,
        emails=emails,
        user_ids=user_ids,
        log=log,
        base_url=served,
        settings=e2e_settings,
    )
    yield world
    for client in world.clients.values():
        client.close()  # an open keep-alive connection would hold the server's shutdown up
    stop.set()
    await asyncio.to_thread(renderer.join, 30)


async def owner_sets_suppression(settings: Settings, programme_id: uuid.UUID, suppress_below: int) -> None:
    """The programme's suppression threshold (the admin page's test changes it through the page)."""
    owner = await connect_owner(settings)
    try:
        await owner.execute(
            "UPDATE programmes SET suppress_below = $2 WHERE programme_id = $1", programme_id, suppress_below
        )
    finally:
        await owner.close()


@pytest.fixture(scope="session")
def browser(served: str) -> Iterator[WebDriver]:
    """Debian's Chromium, headless, with a fresh profile; the same one for every test (cookies cleared between).

    It is closed before the server stops (it needs ``served``), so that no open connection holds the server up.
    """
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: scripts/services.sh installs them")
    profile = tempfile.mkdtemp(prefix="peoplelinks-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: WebDriver, world: World) -> Iterator[Browser]:
    """The browser, logged out, at desk width, its network on."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    browser.set_window_size(*DESKTOP)
    yield Browser(browser, world)
    browser.get(world.base_url + "/app/login")
    browser.delete_all_cookies()
    browser.execute_script("window.localStorage.clear()")


class Browser:
    """A person at the browser: logs in, opens pages, reads tables, takes screenshots."""

    def __init__(self, driver: WebDriver, world: World) -> None:
        self.driver = driver
        self.world = world

    def open(self, path: str) -> None:
        self.driver.get(self.world.base_url + path)

    def login(self, role: str) -> None:
        self.driver.delete_all_cookies()
        self.open("/app/login")
        self.driver.find_element(By.ID, "email").send_keys(self.world.emails[role])
        self.driver.find_element(By.ID, "password").send_keys(PASSWORD)
        self.click_and_load(self.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
        try:
            self.wait_for("header nav")
        except Exception as e:
            raise AssertionError(f"no page after logging in as {role}: {self.driver.current_url}\n{self.text()}") from e

    def click_and_load(self, element: Any, seconds: float = 30) -> None:
        """Click what sends a form or follows a link, and wait until the next page has replaced this one."""
        # The old document is marked and the wait ends when a document without the mark has loaded. Waiting for
        # the old <html> element to go stale asks the browser about a node that may already be gone, and
        # chromedriver then answers "Node with given id does not belong to the document", not "stale".
        self.driver.execute_script("window.__peoplelinksLeaving = true;")
        element.click()
        WebDriverWait(self.driver, seconds, poll_frequency=0.05, ignored_exceptions=(WebDriverException,)).until(
            lambda driver: driver.execute_script(
                "return window.__peoplelinksLeaving === undefined && document.readyState !== 'loading';"
            )
        )

    def wait_for(self, css: str, seconds: float = 20) -> Any:
        return WebDriverWait(self.driver, seconds, poll_frequency=0.05).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def source(self) -> str:
        return str(self.driver.page_source)

    def table(self, figure_id: str) -> dict[str, list[dict[str, str | None]]]:
        """A figures table by row label: each cell's text and exact value (``data-value``), as the page holds them."""
        rows = self.driver.execute_script(
            """return Array.from(document.querySelectorAll(`#${arguments[0]} tbody tr`))
                 .filter((row) => row.querySelector("th"))
                 .map((row) => [row.querySelector("th").innerText.trim(), Array.from(row.querySelectorAll("td"), (c) =>
                   ({text: c.innerText.trim(), value: c.getAttribute("data-value"),
                     suppressed: c.getAttribute("data-suppressed")}))]);""",
            figure_id,
        )
        return {label: cells for label, cells in rows}

    def offline(self, offline: bool) -> None:
        """DevTools network emulation: the page loses (or gets back) its network, as on a train."""
        self.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )

    def screenshot(self, name: str) -> None:
        """The whole page at desk width and at a 360-px phone's, into docs/screenshots/."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.execute_script("window.scrollTo(0, 0)")
        for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
            self.driver.set_window_size(width, height)
            time.sleep(0.15)  # the charts resize on the window's resize event
            full = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
            self.driver.set_window_size(width, min(max(full, height), 6000))
            time.sleep(0.15)
            self.driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
        self.driver.set_window_size(*DESKTOP)

    def horizontal_overflow(self) -> int:
        """How far the page is wider than the window (0 when nothing makes a phone scroll sideways)."""
        return int(
            self.driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )
