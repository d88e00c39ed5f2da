"""axe-core (vendored from the npm registry, injected by the test only) finds no serious or critical violation
on any page, at desk width and at a 360-px phone's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, Browser

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")
SERIOUS = {"serious", "critical"}


def violations(page: Browser) -> list[dict[str, Any]]:
    page.driver.execute_script(AXE)
    result = page.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ["violations"]})
          .then((r) => done(r.violations), (e) => done([{id: String(e)}]));
        """
    )
    return [
        {"id": v["id"], "impact": v.get("impact"), "nodes": [n["target"] for n in v.get("nodes", [])][:5]}
        for v in result
        if v.get("impact") in SERIOUS or "impact" not in v
    ]


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (None, "/app/login"),
        ("staff", "/app/overview"),
        ("counselor", "/app/follow-ups"),
        ("counselor", "participant"),
        ("funder", "/app/report"),
        ("admin", "/app/admin"),
    ],
)
def test_no_serious_accessibility_violation(page: Browser, role: str | None, path: str) -> None:
    if role is not None:
        page.login(role)
    if path == "participant":
        path = f"/app/participants/{page.world.participants_of('counselor', active=False)[0]}"
    found = {}
    for width, height in (DESKTOP, PHONE):
        page.driver.set_window_size(width, height)
        page.open(path)
        found[width] = violations(page)
    assert found == {DESKTOP[0]: [], PHONE[0]: []}
