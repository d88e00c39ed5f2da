"""Logging in to the pages as each role: each lands on its own page and sees only its own links."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.conftest import Browser

LANDS_ON = {
    "admin": ("/app/overview", {"Overview", "Follow-ups", "Funder report", "Admin"}),
    "staff": ("/app/overview", {"Overview", "Follow-ups", "Funder report"}),
    "counselor": ("/app/follow-ups", {"Follow-ups"}),
    "funder": ("/app/report", {"Funder report"}),
}


@pytest.mark.parametrize("role", list(LANDS_ON))
def test_each_role_logs_in_to_its_own_page_with_its_own_links(page: Browser, role: str) -> None:
    page.login(role)
    path, links = LANDS_ON[role]
    assert page.driver.current_url.split("?")[0].endswith(path)
    shown = {a.text for a in page.driver.find_elements(By.CSS_SELECTOR, "header nav a")}
    assert shown == links
    cookies = {c["name"]: c for c in page.driver.get_cookies()}
    session = cookies["peoplelinks_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
    assert session["path"] == "/app"


def test_a_wrong_password_is_refused_and_no_session_is_made(page: Browser) -> None:
    page.open("/app/login")
    page.driver.find_element(By.ID, "email").send_keys(page.world.emails["staff"])
    page.driver.find_element(By.ID, "password").send_keys("not the password")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "Wrong e-mail or password" in page.wait_for("#login-error").text
    assert "peoplelinks_session" not in {c["name"] for c in page.driver.get_cookies()}


def test_a_page_asked_for_without_a_login_leads_to_the_login_and_back(page: Browser) -> None:
    page.open("/app/overview?as_of=2026-06-30")
    assert "/app/login" in page.driver.current_url
    page.driver.find_element(By.ID, "email").send_keys(page.world.emails["staff"])
    page.driver.find_element(By.ID, "password").send_keys("correct horse battery")
    page.click_and_load(page.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    page.wait_for("#placement-title")
    assert page.driver.current_url.endswith("/app/overview?as_of=2026-06-30")
