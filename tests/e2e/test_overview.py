"""The programme overview shows exactly the JSON API's figures, drawn as charts with their tables beside."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from services.api.pages.site import label
from tests.e2e.conftest import Browser

QUERY = "from=2026-01-01&to=2026-06-30&as_of=2026-11-30"


def same(page_cell: dict[str, str | None], api_cell: dict[str, Any]) -> bool:
    """A page cell holds the API cell: suppressed as such, none as none, else the exact value."""
    if api_cell["suppressed"]:
        return page_cell["suppressed"] == "true" and page_cell["text"] == "suppressed"
    if api_cell["value"] is None:
        return page_cell["value"] == "" and page_cell["text"] == "n/a"
    return page_cell["value"] is not None and float(page_cell["value"]) == float(api_cell["value"])


def test_the_overviews_figures_equal_the_apis(page: Browser) -> None:
    page.login("staff")
    page.open(f"/app/overview?{QUERY}")
    page.wait_for("#hires-by-source canvas")
    api = page.world.api("staff")
    report = api.get(f"/v1/reports/outcomes?{QUERY}").json()
    by_channel = api.get(f"/v1/dashboards/response-rates?{QUERY}&group_by=channel").json()
    by_week = api.get(f"/v1/dashboards/response-rates?{QUERY}&group_by=week").json()
    funnel = api.get("/v1/dashboards/funnel?as_of=2026-11-30").json()
    assert page.driver.find_element(By.ID, "position").text == str(report["global_position"])
    figures = report["figures"]
    assert figures["enrolled"]["value"] > 0

    retention = page.table("retention")
    for days in (30, 90, 180):
        row = retention[f"{days} days"]
        expected = figures[f"retention_{days}"]
        for i, key in enumerate(("eligible", "retained", "lost", "unknown", "rate")):
            assert same(row[i], expected[key]), (days, key)

    steps = page.table("funnel")
    for name, key in (("Enrolled", "enrolled"), ("Reached out", "outreach"), ("Hired", "hire")):
        assert float(steps[name][0]["value"] or "nan") == funnel["funnel"][key]
    outcome = page.table("outcome-funnel")
    assert same(outcome["Placed in a job"][0], figures["placed"])
    assert same(outcome["Kept it 90 days"][0], figures["retention_90"]["retained"])
    assert same(outcome["Moved on to a second job or a promotion"][0], figures["second_job_or_promotion"])

    for figure_id, dashboard, keyed in (("rates-by-channel", by_channel, label), ("rates-by-week", by_week, str)):
        rows = page.table(figure_id)
        assert len(rows) == len(dashboard["groups"]) + 1
        for key, group in [*dashboard["groups"].items(), ("All", dashboard["overall"])]:
            row = rows[keyed(key) if key != "All" else "All"]
            for i, field in enumerate(("sent", "answered", "response_rate", "ratio_out_per_reply")):
                assert same(row[i], group[field]), (figure_id, key, field)

    sources = page.table("hires-by-source")
    for source, hires in figures["hires_by_source"].items():
        row = sources[label(source)]
        assert same(row[0], hires)
        assert same(row[3], figures["retention_by_source_90"][source]["rate"])

    tiles = {
        t.find_element(By.CLASS_NAME, "name").text: t.find_element(By.CLASS_NAME, "value").text
        for t in page.driver.find_elements(By.CSS_SELECTOR, ".tile")
    }
    assert tiles["Placement rate"] == f"{figures['placement_rate']['value'] * 100:.1f}%"
    assert tiles["Enrolled"] == f"{figures['enrolled']['value']:,.0f}"


def test_the_period_and_as_of_pickers_ask_for_that_report(page: Browser) -> None:
    page.login("admin")
    page.open("/app/overview")
    page.driver.find_element(By.ID, "from").send_keys("01012026")  # a date input takes the typed digits
    page.driver.find_element(By.ID, "to").send_keys("03312026")
    page.driver.find_element(By.ID, "as_of").send_keys("06302026")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, ".pickers button"))
    page.wait_for("#hires-by-source canvas")
    assert "from=2026-01-01&to=2026-03-31&as_of=2026-06-30" in page.driver.current_url
    report = page.world.api("admin").get("/v1/reports/outcomes?from=2026-01-01&to=2026-03-31&as_of=2026-06-30").json()
    assert same(page.table("outcome-funnel")["Enrolled in the period"][0], report["figures"]["enrolled"])
    page.screenshot("overview")
    assert page.horizontal_overflow() == 0
