"""The funder report: the released quarter, charts and tables alike suppressed ("suppressed", never 0), no name
or record id anywhere in the page or in anything it loads, and its three downloads."""

from __future__ import annotations

import json
import time
from typing import Any

from selenium.webdriver.common.by import By

from tests.e2e.conftest import RELEASED, Browser
from tests.e2e.test_overview import label, same


def fetch(page: Browser, path: str) -> dict[str, Any]:
    """``path`` fetched by the page itself (its cookies): status, type and text (or size, for binary files)."""
    return dict(
        page.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            fetch(arguments[0], {credentials: "same-origin"}).then(async (r) => {
              const type = r.headers.get("content-type") || "";
              const bytes = new Uint8Array(await r.arrayBuffer());
              const text = type.startsWith("text/") ? new TextDecoder().decode(bytes) : "";
              done({status: r.status, type, text, size: bytes.length});
            });
            """,
            path,
        )
    )


def loaded_bodies(page: Browser) -> dict[str, str]:
    """Every response the browser received since the log was last read, by URL, with its body."""
    bodies: dict[str, str] = {}
    for entry in page.driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.responseReceived":
            continue
        url = message["params"]["response"]["url"]
        try:
            body = page.driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": message["params"]["requestId"]})
        except Exception:  # a redirect's answer has no body to read
            continue
        bodies[url] = body["body"]
    return bodies


def test_a_funder_sees_the_released_report_with_no_name_and_no_suppressed_number(page: Browser) -> None:
    world = page.world
    page.driver.get_log("performance")  # what came before is not this page's
    page.login("funder")
    assert page.driver.current_url.endswith("/app/report")
    page.wait_for("#hires-by-source canvas")
    api = world.api("funder")
    report = api.get("/v1/reports/outcomes").json()
    by_channel = api.get("/v1/dashboards/response-rates?group_by=channel").json()
    assert page.driver.find_element(By.TAG_NAME, "h1").text == f"Funder report {RELEASED}"

    figures = report["figures"]
    suppressed = 0
    for days in (30, 90, 180):
        row = page.table("retention")[f"{days} days"]
        for i, key in enumerate(("eligible", "retained", "lost", "unknown", "rate")):
            assert same(row[i], figures[f"retention_{days}"][key]), (days, key)
            suppressed += figures[f"retention_{days}"][key]["suppressed"]
    sources = page.table("hires-by-source")
    for source, hires in figures["hires_by_source"].items():
        assert same(sources[label(source)][0], hires), source
        assert same(sources[label(source)][3], figures["retention_by_source_90"][source]["rate"]), source
        suppressed += hires["suppressed"]
    rates = page.table("rates-by-channel")
    for channel, row in by_channel["groups"].items():
        for i, field in enumerate(("sent", "answered", "response_rate", "ratio_out_per_reply")):
            assert same(rates[label(channel)][i], row[field]), (channel, field)
    for dimension, groups in report["breakdowns"].items():
        table = page.table(f"breakdown-{dimension}")
        for group, cells in groups.items():
            assert same(table[label(group)][0], cells["enrolled"]), (dimension, group)
            assert same(table[label(group)][2], cells["placement_rate"]), (dimension, group)
    assert suppressed > 0, "the released quarter should hide some small cells"
    assert "counselor" not in report["breakdowns"]

    # Suppressed cells carry no number: not in the table, not in the charts drawn from it.
    for cell in page.driver.find_elements(By.CSS_SELECTOR, "td[data-suppressed]"):
        assert cell.text == "suppressed" and cell.get_attribute("data-value") is None
    charted = page.driver.execute_script(
        """const chart = Chart.getChart(document.querySelector("#hires-by-source canvas"));
           return Array.from(document.querySelectorAll("#hires-by-source tbody tr"), (row, i) =>
             [row.cells[1].dataset.suppressed === "true", chart.data.datasets[0].data[i]]);"""
    )
    assert all(value is None for hidden, value in charted if hidden)
    tiles = {t.find_element(By.CLASS_NAME, "name").text: t for t in page.driver.find_elements(By.CSS_SELECTOR, ".tile")}
    if figures["placed"]["suppressed"]:
        assert tiles["Placed"].find_element(By.CLASS_NAME, "value").text == "suppressed"

    # No name, no participant, contact or counselor id: not in the page, nor in anything it loaded or offers.
    downloads = {fmt: fetch(page, f"/app/report/download?period={RELEASED}&format={fmt}") for fmt in ("csv", "xlsx")}
    assert downloads["csv"]["status"] == 200 and downloads["csv"]["type"].startswith("text/csv")
    assert downloads["xlsx"]["status"] == 200 and downloads["xlsx"]["size"] > 1000
    csv_lines = downloads["csv"]["text"].splitlines()
    assert any(line.endswith(",,true") for line in csv_lines)  # suppressed rows: no value, marked
    deadline = time.monotonic() + 60
    pdf = fetch(page, f"/app/report/download?period={RELEASED}&format=pdf")
    while pdf["status"] == 202 and time.monotonic() < deadline:  # the worker renders it; the page asks again
        assert "Preparing the download" in pdf["text"]
        time.sleep(0.5)
        pdf = fetch(page, f"/app/report/download?period={RELEASED}&format=pdf")
    assert pdf["status"] == 200 and pdf["type"] == "application/pdf"
    seen = {"page": page.source(), "csv": downloads["csv"]["text"], **loaded_bodies(page)}
    assert any("/app/static/vendor/chart.js" in url for url in seen)
    secrets = world.names() | {str(p) for p in world.participants()} | {str(c) for c in world.contacts()}
    secrets |= {str(world.user_ids[role]) for role in ("counselor", "counselor2", "staff", "admin")}
    leaks = {(where, secret) for where, body in seen.items() for secret in secrets if secret in body}
    assert leaks == set()
    page.screenshot("funder-report")
    assert page.horizontal_overflow() == 0


def test_staff_see_the_funder_edition_too(page: Browser) -> None:
    page.login("staff")
    page.open("/app/report")
    page.wait_for("#retention")
    released = page.world.api("funder").get("/v1/reports/outcomes").json()
    assert page.driver.find_element(By.CSS_SELECTOR, "code.hash").text == released["hash"]
